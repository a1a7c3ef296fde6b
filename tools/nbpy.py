#!/usr/bin/env python
"""Edit notebooks as plain text: `nbpy.py export nbs/13_x.ipynb > x.py`, edit, `nbpy.py import x.py nbs/13_x.ipynb`.

Percent format: a cell starts with `# %%` (code) or `# %% [markdown]` (markdown; each line prefixed `# `).
An optional `id=<cell id>` after the marker keeps the cell's id, so re-importing an unchanged cell changes
nothing (nbdev_export diffs on ids otherwise). Saved outputs of cells whose source is unchanged are kept;
changed cells lose theirs (run `tools/run_nbs.py` to refresh them).
"""
import hashlib, json, re, sys
from pathlib import Path

MARK = re.compile(r"^# %%( \[markdown\])?(?: id=(\S+))?\s*$")


def export(nb_path):
    nb = json.loads(Path(nb_path).read_text())
    out = []
    for c in nb["cells"]:
        src = "".join(c["source"])
        if c["cell_type"] == "markdown":
            out.append(f"# %% [markdown] id={c['id']}")
            out += [("# " + l) if l else "#" for l in src.split("\n")]
        else:
            out.append(f"# %% id={c['id']}")
            out.append(src)
        out.append("")
    return "\n".join(out)


def parse(text):
    cells, cur = [], None
    for line in text.split("\n"):
        m = MARK.match(line)
        if m:
            cur = {"md": bool(m.group(1)), "id": m.group(2), "lines": []}
            cells.append(cur)
        elif cur is not None:
            cur["lines"].append(line)
    res = []
    for c in cells:
        lines = c["lines"]
        while lines and not lines[-1].strip(): lines.pop()
        while lines and not lines[0].strip(): lines.pop(0)
        if c["md"]: lines = [l[2:] if l.startswith("# ") else l[1:] if l.startswith("#") else l for l in lines]
        res.append(("markdown" if c["md"] else "code", c["id"], "\n".join(lines)))
    return res


def _src(s):
    ls = s.split("\n")
    return [l + "\n" for l in ls[:-1]] + [ls[-1]] if s else []


def to_nb(py_path, nb_path):
    nb_path = Path(nb_path)
    old = json.loads(nb_path.read_text()) if nb_path.exists() else None
    prev = {c["id"]: c for c in old["cells"]} if old else {}
    cells, seen = [], set()
    for i, (kind, cid, src) in enumerate(parse(Path(py_path).read_text())):
        if cid is None or cid in seen:
            cid = hashlib.sha1(f"{nb_path.name}:{i}:{src}".encode()).hexdigest()[:8]
        seen.add(cid)
        p = prev.get(cid)
        if p is not None and p["cell_type"] == kind and "".join(p["source"]) == src:
            cells.append(p)
            continue
        c = {"cell_type": kind, "id": cid, "metadata": {}, "source": _src(src)}
        if kind == "code": c.update(execution_count=None, outputs=[])
        cells.append(c)
    nb = old or {"metadata": {"kernelspec": {"display_name": "python3", "language": "python", "name": "python3"}},
                 "nbformat": 4, "nbformat_minor": 5}
    nb["cells"] = cells
    nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    if cmd == "export": sys.stdout.write(export(args[0]))
    elif cmd == "import": to_nb(args[0], args[1])
    else: sys.exit(__doc__)
