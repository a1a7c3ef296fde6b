"""Killed runs, failing disks, unsafe checkpoints, divergence and reproducibility, tested on real processes."""
import errno, json, os, re, signal, subprocess, sys, time
from pathlib import Path

import pandas as pd
from PIL import Image
import pytest
import torch

from severstal_cbam.record import load_checkpoint, save_checkpoint
from helpers import TINY, experiments, run

SLOW_SAVE = """
import io, os, sys, time, torch
_save, _n = torch.save, [0]
def save(obj, f, *a, **k):
    buf = io.BytesIO(); _save(obj, buf, *a, **k); data = buf.getvalue()
    _n[0] += 1
    if _n[0] == int(os.environ["HANG_AT_SAVE"]) and hasattr(f, "write"):
        f.write(data[:len(data) // 2]); f.flush()
        print("HALF-WRITTEN", os.readlink(f"/proc/self/fd/{f.fileno()}"), flush=True); time.sleep(600)
    f.write(data) if hasattr(f, "write") else _save(obj, f, *a, **k)
torch.save = save
sys.argv = ["severstal_train", *sys.argv[1:]]
from severstal_cbam.train import main
main()
"""


def _env(tmp, **kw):
    return {**os.environ, "SEVERSTAL_CBAM_CACHE": str(tmp/"cache"), "PYTHONUNBUFFERED": "1", **kw}


def _all_files_parse(exp):
    "Every file a run writes parses; temporary files of a killed write are the only leftovers allowed."
    for p in exp.rglob("*"):
        if p.is_dir() or p.name.endswith(".tmp") or ".hydra" in p.parts: continue
        if p.suffix == ".json": json.loads(p.read_text())
        elif p.suffix == ".pt": load_checkpoint(p)
        elif p.suffix == ".csv": pd.read_csv(p)
        elif p.suffix == ".png": Image.open(p).load()
        elif p.name == "train.log": assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO ", p.read_text(encoding="utf-8")), p   # appended line by line
        else: raise AssertionError(f"unexpected file {p}")


def _wait_for(pred, proc, timeout=300):
    t0 = time.time()
    while not pred():
        assert proc.poll() is None, f"training ended early: {proc.returncode}"
        assert time.time() - t0 < timeout, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume(tmp_path):
    args = [*TINY, "training.num_epochs=4", f"output_dir={tmp_path/'out'}"]
    proc = subprocess.Popen(["severstal_train", *args], cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    res_path = lambda: next(iter(experiments(tmp_path/"out")), Path("/nonexistent"))/"results.json"
    def epochs_done():
        try: return json.loads(res_path().read_text()).get("epochs_completed", 0)
        except (OSError, json.JSONDecodeError): return 0
    _wait_for(lambda: epochs_done() >= 2, proc)
    time.sleep(1.0)                                    # into epoch 2
    proc.send_signal(signal.SIGKILL); proc.wait()
    (exp,) = experiments(tmp_path/"out")
    _all_files_parse(exp)
    done = epochs_done()
    # results.json is written just before last.pt, so a kill between the two leaves last.pt one epoch behind
    last = load_checkpoint(exp/"checkpoints"/"last.pt")["epoch"]
    assert done - 1 <= last <= done and last >= 1
    before = json.loads((exp/"results.json").read_text())["history"]
    run([*TINY, "training.num_epochs=4", f"training.resume={exp}", f"output_dir={tmp_path/'out'}"], tmp_path)
    res = json.loads((exp/"results.json").read_text())
    assert res["status"] == "completed" and [h["epoch"] for h in res["history"]] == [0, 1, 2, 3]
    assert res["history"][:last] == before[:last]                # what was checkpointed is kept, only later epochs are redone
    assert res["resumed"][0]["at_epoch"] == last
    assert not list(exp.rglob("*.tmp"))


@pytest.mark.slow
def test_sigkill_mid_checkpoint_write_keeps_the_previous_checkpoint(tmp_path):
    # torch.save calls per epoch: best (when improved) + last.pt; hang in the middle of a later one and kill there
    args = [*TINY, "training.num_epochs=3", "training.lr=1e-12", "training.monitor=valid_loss", f"output_dir={tmp_path/'out'}"]
    proc = subprocess.Popen([sys.executable, "-c", SLOW_SAVE, *args], cwd=tmp_path, env=_env(tmp_path, HANG_AT_SAVE="3"),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith("HALF-WRITTEN"): break
    half = Path(line.split(maxsplit=1)[1].strip())
    assert half.name.endswith(".tmp") and half.exists()
    proc.send_signal(signal.SIGKILL); proc.wait()
    (exp,) = experiments(tmp_path/"out")
    _all_files_parse(exp)                               # the half-written file is a temporary one; every real file is whole
    assert half.exists()
    last = load_checkpoint(exp/"checkpoints"/"last.pt")
    res = json.loads((exp/"results.json").read_text())
    # results.json is written just before last.pt: the epoch whose checkpoint write died is the one that is lost
    assert last["epoch"] >= 1 and res["epochs_completed"] - 1 <= last["epoch"] <= res["epochs_completed"]
    run([*TINY, "training.num_epochs=3", "training.lr=1e-12", "training.monitor=valid_loss", f"training.resume={exp}",
         f"output_dir={tmp_path/'out'}"], tmp_path)
    res = json.loads((exp/"results.json").read_text())
    assert res["status"] == "completed" and [h["epoch"] for h in res["history"]] == [0, 1, 2]
    assert not half.exists()                            # resume cleared the dead write's leftovers


def test_disk_full_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path/"last.pt"
    save_checkpoint(path, model=torch.nn.Linear(3, 2), epoch=1)
    good = path.read_bytes()
    def full(obj, f, *a, **k):
        f.write(b"x" * 1000); raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(OSError, match="No space left"): save_checkpoint(path, model=torch.nn.Linear(3, 2), epoch=2)
    assert path.read_bytes() == good and load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]        # no temporary file left behind


class Payload:
    def __reduce__(self): return (os.system, (f"touch {os.environ['PWNED']}",))


@pytest.mark.slow
def test_pickle_payloads_are_refused_and_never_run(tmp_path):
    run([*TINY, "training.num_epochs=1", f"output_dir={tmp_path/'out'}"], tmp_path)
    (exp,) = experiments(tmp_path/"out")
    pwned = tmp_path/"pwned"
    os.environ["PWNED"] = str(pwned)
    evil = {"model": {"w": torch.zeros(1)}, "x": Payload()}
    best = next((exp/"checkpoints").glob("best_model_*.pt"))
    torch.save(evil, best)                                             # a shared run folder with a booby-trapped checkpoint
    torch.save(evil, tmp_path/"weights.pt")
    r = run([f"experiment={exp}", "split=test", f"out={tmp_path/'p.csv'}"], tmp_path, cmd=("severstal_predict",), check=False)
    assert r.returncode == 2 and "safely (weights_only=True)" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = run([*TINY, "training.num_epochs=1", f"model.weights={tmp_path/'weights.pt'}", f"output_dir={tmp_path/'o2'}"], tmp_path, check=False)
    assert r.returncode == 2 and "Cannot load" in r.stderr and "safely" in r.stderr and "Traceback" not in r.stderr, r.stderr
    torch.save(evil, exp/"checkpoints"/"last.pt")
    r = run([*TINY, "training.num_epochs=2", f"training.resume={exp}"], tmp_path, check=False)
    assert r.returncode == 2 and "safely (weights_only=True)" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not pwned.exists()


def test_no_eval_exec_or_pickle_on_user_files():
    src = Path(__file__).parents[1]/"severstal_cbam"
    for p in src.glob("*.py"):
        text = p.read_text()
        for bad in ("eval(", "exec(", "pickle.load", "weights_only=False", "load_learner"):
            hits = [l for l in text.splitlines() if bad in l and "model.eval()" not in l and ".eval()" not in l]
            assert not hits, f"{p.name}: {hits}"


def test_divergence_stops_cleanly_with_checkpoints_kept(tmp_path):
    r = run([*TINY, "training.num_epochs=3", "training.lr=1e30", "training.schedule=warmup_cosine", "training.warmup_pct=0",
             f"output_dir={tmp_path/'out'}"], tmp_path, check=False)
    assert r.returncode == 3 and "the run diverged" in r.stderr, (r.returncode, r.stderr[-1000:])   # a diverged run is not a success
    (exp,) = experiments(tmp_path/"out")
    res = json.loads((exp/"results.json").read_text())
    assert res["status"] == "diverged", res["status"]
    _all_files_parse(exp)


@pytest.mark.slow
def test_same_config_and_seed_give_the_same_run(tmp_path):
    a = run([*TINY, "training.num_epochs=1", f"output_dir={tmp_path/'a'}"], tmp_path)
    b = run([*TINY, "training.num_epochs=1", f"output_dir={tmp_path/'b'}"], tmp_path)
    (ea,), (eb,) = experiments(tmp_path/"a"), experiments(tmp_path/"b")
    assert (ea/"split.csv").read_bytes() == (eb/"split.csv").read_bytes()
    ra, rb = (json.loads((e/"results.json").read_text()) for e in (ea, eb))
    keys = ["train_loss", "valid_loss", "f1_macro", "f1_c1", "f1_c2", "f1_c3", "f1_c4"]
    assert [ra["history"][0][k] for k in keys] == [rb["history"][0][k] for k in keys]
    assert ra["test"] == rb["test"]
    # results.json holds what it takes to rerun: its config alone gives the same first epoch
    from omegaconf import OmegaConf
    from severstal_cbam.train import train
    cfg = OmegaConf.create(ra["config"]); cfg.output_dir = str(tmp_path/"c"); cfg.data.cache_dir = str(tmp_path/"cache")
    rc = train(cfg)
    assert [rc["history"][0][k] for k in keys] == [ra["history"][0][k] for k in keys]
