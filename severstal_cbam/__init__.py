__version__ = "0.0.1"

import warnings as _warnings
# Deprecation notices that fastai triggers at import time (it scripts layers with torch.jit.script and sets a pandas
# option pandas 3 retired): addressed to fastai's developers, nothing a user of this library can act on.
_warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
_warnings.filterwarnings("ignore", message=r"The 'mode\.chained_assignment' option is deprecated")
