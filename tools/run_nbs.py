#!/usr/bin/env python
"""Execute notebooks in place, saving their outputs (tables, figures) for the docs site.

Quarto renders the notebooks without running them (`nbdev_docs` uses --no-execute), so what the docs show
is what the notebooks hold. Run this after changing a notebook whose outputs matter, then
`nbdev_clean` and commit:  python tools/run_nbs.py nbs/14_train.ipynb [more.ipynb ...] [--flags slow ...]

Why not execnb's `exec_nb`: it runs from the current folder (notebooks resolve paths from `nbs/`), runs every
cell (the long `#| ablation` / `#| recipes` cells too, where `nbdev_test` skips them), and keeps fastprogress's
console bars (`Epoch 1/2 : |####----| 40.00% ...`) in the saved outputs. This script runs each notebook in its
own process from its folder with execnb's `CaptureShell`, skips cells carrying a `tst_flags` flag that was not
asked for (their saved outputs stay), saves no output for a cell marked `# draws real images: no saved output`, and keeps of each printed line what a terminal would show last, so the
per-epoch tables stay and the progress bars go.
"""
import configparser, os, re, subprocess, sys
from pathlib import Path

from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell

ROOT = Path(__file__).resolve().parents[1]


def _tst_flags() -> set[str]:
    cfg = configparser.ConfigParser(); cfg.read(ROOT/"settings.ini")
    return set(cfg["DEFAULT"].get("tst_flags", "").split())


def _skip(asked: set[str]):
    "A `preproc` for `run_all`: True (do not run) for a cell flagged with a test flag that was not asked for."
    skip = _tst_flags() - asked
    def f(cell):
        flags = set(re.findall(r"^#\|\s*(\w+)\s*$", cell.source, re.M))
        return cell.cell_type == "code" and bool(flags & skip)
    return f


def terminal_text(text: str) -> str:
    "What a terminal shows of `text`: of each line, the part after its last carriage return; lines left blank by that are dropped."
    out = []
    for line in text.split("\n"):
        shown = line.split("\r")[-1].rstrip()
        if shown or "\r" not in line: out.append(shown)
    return "\n".join(out)


NO_OUTPUT = "# draws real images: no saved output"   # Kaggle's images are never stored in the repository, not even as figures


def _clean_streams(cell):
    if NO_OUTPUT in cell.get("source", ""): cell["outputs"] = []; return
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            text = o["text"] if isinstance(o["text"], str) else "".join(o["text"])
            o["text"] = terminal_text(text.replace("█\r", ""))


def run_nb(path: Path, asked: set[str]) -> None:
    nb = read_nb(path)
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    shell = CaptureShell(path=path.parent)
    shell.run_all(nb, exc_stop=True, preproc=_skip(asked), postproc=_clean_streams)
    write_nb(nb, path)


if __name__ == "__main__":
    args = sys.argv[1:]
    asked = set(args[args.index("--flags") + 1:]) if "--flags" in args else set()
    names = args[:args.index("--flags")] if "--flags" in args else args
    paths = [Path(p) for p in names] or sorted(Path("nbs").glob("*.ipynb"))
    if len(paths) == 1:
        print(f"running {paths[0]}", flush=True)
        run_nb(paths[0].resolve(), asked)
    else:  # one process per notebook, as nbdev_test does: notebooks must not share state
        flags = ["--flags", *asked] if asked else []
        for p in paths: subprocess.run([sys.executable, __file__, str(p), *flags], check=True)
