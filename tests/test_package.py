"""Process-level checks of the package as installed: version, exported modules, and the one-way
data flow of the architecture page (nbs/architecture.ipynb): each module imports only from modules of
lower-numbered notebooks."""
import ast, configparser, json, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CFG = configparser.ConfigParser(); CFG.read(ROOT/'settings.ini', encoding='utf-8')
LIB = CFG['DEFAULT']['lib_name']


def _notebook_modules():
    "(number, module) for every numbered notebook with a `default_exp`."
    res = []
    for nb in sorted((ROOT/'nbs').glob('[0-9][0-9]*_*.ipynb')):   # 02_labels, 02a_sample, 03_synthetic, ...
        cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
        src = '\n'.join(''.join(c['source']) for c in cells if c['cell_type'] == 'code')
        m = re.search(r'^#\|\s*default_exp\s+(\S+)', src, re.M)
        assert m, f'{nb.name} has no `#| default_exp` cell'
        res.append((nb.name.split('_')[0], m.group(1)))   # '02' < '02a' < '03': the file order is the data flow
    return res


def test_version_matches_settings():
    out = subprocess.run([sys.executable, '-c', f'import {LIB}; print({LIB}.__version__)'],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == CFG['DEFAULT']['version']


def test_every_notebook_module_imports_in_a_fresh_process():
    mods = [m for _, m in _notebook_modules()]
    assert 'core' in mods
    code = '; '.join(f'import {LIB}.{m}' for m in mods)
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_modules_import_only_from_lower_numbered_notebooks():
    order = {m: n for n, m in _notebook_modules()}
    for n, mod in _notebook_modules():
        tree = ast.parse((ROOT/LIB/(mod.replace('.', '/') + '.py')).read_text(encoding='utf-8'))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or not node.module: continue
            name = node.module
            if node.level: target = name
            elif name.startswith(LIB + '.'): target = name[len(LIB) + 1:]
            else: continue
            assert target in order, f'{mod} imports {name}, which no notebook exports'
            assert order[target] < n, f'{mod} (notebook {n}) imports {target} (notebook {order[target]}): data flows one way'


def test_no_module_is_over_450_lines():
    "Every room reads in one sitting (the structure issue's bar); `_modidx.py` is nbdev's generated index."
    long = {p.name: n for p in sorted((ROOT/LIB).glob('*.py')) if p.name != '_modidx.py' and (n := len(p.read_text(encoding='utf-8').splitlines())) > 450}
    assert not long, f'split these by what changes together: {long}'


def test_run_records_go_through_their_type():
    "`results.json` is read only by `record.read_record` and written only by `record.write_record` (both check `RunRecord`): no module parses or dumps it itself."
    bad = []
    for p in sorted((ROOT/LIB).glob('*.py')):
        if p.name in ('_modidx.py', 'record.py'): continue
        for i, line in enumerate(p.read_text(encoding='utf-8').splitlines(), 1):
            if 'results.json' in line and re.search(r'json\.loads?\(|read_text\(|write_json\(|json\.dump', line): bad.append(f'{p.name}:{i}: {line.strip()}')
    assert not bad, 'read results.json with read_record, write it with write_record:\n' + '\n'.join(bad)
