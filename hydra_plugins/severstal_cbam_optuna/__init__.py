"""Hydra finds sweepers only inside the `hydra_plugins` namespace package: this is the entry that `hydra/sweeper: optuna`
(severstal_cbam/conf/hydra/sweeper/optuna.yaml) names. The search itself is `severstal_cbam.search` (nbs/14a_search.ipynb);
it is imported when a search starts, not when Hydra scans its plugins, so other Hydra programs do not import the library."""
from hydra.plugins.sweeper import Sweeper


class OptunaSweeper(Sweeper):
    "`severstal_cbam.search.OptunaSweeper`, loaded on first use."
    def __init__(self, **kwargs):
        from severstal_cbam.search import OptunaSweeper as Impl
        self.impl = Impl(**kwargs)

    def setup(self, *, hydra_context, task_function, config):
        self.impl.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments):
        return self.impl.sweep(arguments)
