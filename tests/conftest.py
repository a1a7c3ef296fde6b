"""Process tests. Those marked `slow` train several runs or processes (about a minute each); CI runs them all,
`pytest -m "not slow" tests` skips them while iterating."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))   # the test modules share helpers.py (run, experiments, the checks of a run)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: trains several runs or launches several processes")
    config.addinivalue_line("markers", "longest: started first, so that the other workers run the rest beside it")


def pytest_collection_modifyitems(session, config, items):
    "The tests marked `longest` first: pytest-xdist hands tests out in order, and a long one started last is a long tail."
    items.sort(key=lambda item: item.get_closest_marker("longest") is None)
