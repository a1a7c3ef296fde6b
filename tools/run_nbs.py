#!/usr/bin/env python
"""Execute notebooks in place, saving their outputs (tables, figures) for the docs site.

Quarto renders the notebooks without running them (`nbdev_docs` uses --no-execute), so what the docs show
is what the notebooks hold. Run this after changing a notebook whose outputs matter, then
`nbdev_clean` and commit:  python tools/run_nbs.py nbs/03_synthetic.ipynb [more.ipynb ...]
"""
import os, subprocess, sys
from pathlib import Path

from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell


def run_nb(path: Path) -> None:
    nb = read_nb(path)
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    shell = CaptureShell(path=path.parent)
    shell.run_all(nb, exc_stop=True)
    write_nb(nb, path)


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or sorted(Path("nbs").glob("*.ipynb"))
    if len(paths) == 1:
        print(f"running {paths[0]}", flush=True)
        run_nb(paths[0].resolve())
    else:  # one process per notebook, as nbdev_test does: notebooks must not share state
        for p in paths: subprocess.run([sys.executable, __file__, str(p)], check=True)
