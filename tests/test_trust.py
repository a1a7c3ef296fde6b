"""Runs you can trust (issue 20): each test reproduces one way a run folder used to lose data or report something
false, tried as a hostile user would, and checks what happens now. One tiny two-epoch run is trained once and copied
into each test that needs one."""
import json, os, shutil, signal, stat, subprocess, time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers import TINY, experiments, run


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    "A finished two-epoch run and the folder it was made in (its synthetic-data cache is shared by every test)."
    home = tmp_path_factory.mktemp("trust")
    run([*TINY, "training.num_epochs=2", f"output_dir={home/'runs'}"], home)
    (exp,) = experiments(home/"runs")
    return home, exp


def _copy(base, tmp_path, name="run"):
    home, exp = base
    dst = tmp_path/name
    shutil.copytree(exp, dst, symlinks=True)
    shutil.copytree(home/"cache", tmp_path/"cache", dirs_exist_ok=True)   # `run` points the cache at tmp_path/cache
    return dst


def _rec(exp): return json.loads((Path(exp)/"results.json").read_text())
def _snapshot(folder):
    "Every file of a run folder but Hydra's record of the invocations (`.hydra/`), by content."
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file() and ".hydra" not in p.parts}


def test_1_resuming_a_copy_or_a_moved_run_stays_inside_it(base, tmp_path):
    orig = _copy(base, tmp_path, "orig")
    before = _snapshot(orig)
    copy = tmp_path/"copy"; shutil.copytree(orig, copy)
    run([*TINY, "training.num_epochs=3", f"training.resume={copy}", f"output_dir={tmp_path/'out'}"], tmp_path)
    assert _snapshot(orig) == before                                    # the original: not a byte changed, nothing deleted
    rec = _rec(copy)
    assert rec["status"] == "completed" and Path(rec["experiment_dir"]) == copy.resolve()
    assert (copy/rec["best"]["checkpoint"]).is_file() and not Path(rec["best"]["checkpoint"]).is_absolute()
    moved = tmp_path/"moved"; orig.rename(moved)                        # a renamed run trains on and evaluates
    run([*TINY, "training.num_epochs=3", f"training.resume={moved}", f"output_dir={tmp_path/'out'}"], tmp_path)
    assert _rec(moved)["status"] == "completed" and Path(_rec(moved)["experiment_dir"]) == moved.resolve()


def test_2_resume_accepts_a_run_folder_or_its_last_pt_only(base, tmp_path):
    exp = _copy(base, tmp_path)
    before = _snapshot(exp)
    best = next((exp/"checkpoints").glob("best_model_epoch*.pt"))
    r = run([*TINY, "training.num_epochs=3", f"training.resume={best}", f"output_dir={tmp_path/'out'}"], tmp_path, check=False)
    assert r.returncode == 2 and "is not a run folder or its checkpoints/last.pt" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert _snapshot(exp) == before
    run([*TINY, "training.num_epochs=3", f"training.resume={exp/'checkpoints'/'last.pt'}", f"output_dir={tmp_path/'out'}"], tmp_path)
    assert [h["epoch"] for h in _rec(exp)["history"]] == [0, 1, 2]


def test_3_resume_checks_the_config_and_records_what_changed(base, tmp_path):
    exp = _copy(base, tmp_path)
    before = _snapshot(exp)
    for override, key in (("seed=7", "seed=42 (now 7)"), ("model.name=convnext_atto", "model.name='convnext_atto_cbam' (now 'convnext_atto')")):
        r = run([*TINY, override, "training.num_epochs=3", f"training.resume={exp}", f"output_dir={tmp_path/'out'}"], tmp_path, check=False)
        assert r.returncode == 2 and "the run was trained with other" in r.stderr and key in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) <= 3, r.stderr          # one line, not 22 KB of state-dict errors
    assert _snapshot(exp) == before
    run([*TINY, "training.num_epochs=3", f"training.resume={exp}", f"output_dir={tmp_path/'out'}"], tmp_path)
    rec = _rec(exp)
    assert rec["config"]["training"]["num_epochs"] == 3 and rec["seed"] == 42
    assert rec["resumed"][-1]["changed"]["training.num_epochs"] == [2, 3]
    done = _snapshot(exp)                                                # a completed run resumed again: left as it is
    r = run([*TINY, "training.num_epochs=3", f"training.resume={exp}", f"output_dir={tmp_path/'out'}"], tmp_path)
    assert "already completed" in r.stdout + r.stderr and _snapshot(exp) == done


def test_5_predict_never_overwrites_a_runs_own_record(base, tmp_path):
    exp = _copy(base, tmp_path)
    images = Path(_rec(exp)["data"]["path"])/"train_images"
    before = (exp/"predictions.csv").read_bytes()
    r = run(["experiment=.", f"images={images}"], exp, cmd=("severstal_predict",), check=False)
    assert r.returncode == 2 and "part of the run's own record" in r.stderr and "overwrite=true" in r.stderr, r.stderr
    assert (exp/"predictions.csv").read_bytes() == before
    run(["experiment=.", f"images={images}", "out=new.csv"], exp, cmd=("severstal_predict",))
    assert (exp/"new.csv").is_file() and (exp/"predictions.csv").read_bytes() == before


def test_6_skip_refuses_to_train_on_what_is_left_when_classes_vanish(base, tmp_path):
    home, _ = base
    data = tmp_path/"data"
    src = next((home/"cache").rglob("train.csv")).parent
    shutil.copytree(src, data)
    for p in (data/"train_images").glob("*.jpg"): Image.open(p).save(p.with_suffix(".png")); p.unlink()   # the CSV still says .jpg
    r = run([*TINY, f"data.path={data}", "data.on_bad_images=skip", f"output_dir={tmp_path/'out'}"], tmp_path, check=False)
    assert r.returncode == 2 and "data.on_bad_images=skip would leave no image of class_" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path/"out").exists() or not any((tmp_path/"out").rglob("results.json"))


def _train_until(tmp_path, args, ready, sig=signal.SIGTERM):
    proc = subprocess.Popen(["severstal_train", *TINY, *args, f"output_dir={tmp_path/'out'}"], cwd=tmp_path,
                            env={**os.environ, "SEVERSTAL_CBAM_CACHE": str(tmp_path/"cache"), "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not ready():
        assert proc.poll() is None and time.time() - t0 < 300, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out + err                                     # Hydra logs to stdout, errors go to stderr


def test_7_status_and_hints_stay_true(base, tmp_path):
    _copy(base, tmp_path, "unused")                                      # the cache
    runs = lambda: experiments(tmp_path/"out") if (tmp_path/"out").exists() else []
    started = lambda: runs() and (runs()[0]/"results.json").is_file()
    code, err = _train_until(tmp_path, ["training.num_epochs=5"], started, signal.SIGINT)   # Ctrl-C in the first epoch
    (exp,) = runs()
    assert code == 130 and _rec(exp)["status"] == "interrupted", (code, err[-2000:])
    assert "there is no checkpoint to resume from" in err and "resume with training.resume" not in err, err[-2000:]
    r = run([f"experiment={exp}", f"images={exp}"], tmp_path, cmd=("severstal_predict",), check=False)
    assert r.returncode == 2 and "weights=final" not in r.stderr and "resume it" in r.stderr, r.stderr
    shutil.rmtree(tmp_path/"out")
    one_epoch = lambda: runs() and (runs()[0]/"checkpoints"/"last.pt").is_file()
    code, err = _train_until(tmp_path, ["training.num_epochs=50"], one_epoch)          # SIGTERM after an epoch
    (exp,) = runs()
    assert _rec(exp)["status"] == "interrupted" and f"resume with training.resume={exp}" in err, err[-2000:]
    # a diverged run exits 3 with one line: tests/test_reliability.py::test_divergence_stops_cleanly_with_checkpoints_kept


def test_8_resume_keeps_the_record_whole(base, tmp_path):
    exp = _copy(base, tmp_path)
    first = _rec(exp)["timing"]
    run([*TINY, "training.num_epochs=3", f"training.resume={exp}", f"output_dir={tmp_path/'out'}"], tmp_path)
    hist = pd.read_csv(exp/"history.csv")
    assert hist.epoch.tolist() == [0, 1, 2] and (exp/"history.csv").read_text().count("epoch,") == 1
    rec = _rec(exp)
    assert rec["timing"]["total_seconds"] > first["total_seconds"] and rec["timing"]["fit_seconds"] > first["fit_seconds"]
    assert abs(rec["timing"]["fit_seconds"] - sum(h["seconds"] for h in rec["history"])) < 0.2


def test_9_files_follow_the_umask(base, tmp_path):
    home, _ = base
    old = os.umask(0o002)
    try: run([*TINY, "training.num_epochs=1", f"output_dir={tmp_path/'out'}"], tmp_path)
    finally: os.umask(old)
    (exp,) = experiments(tmp_path/"out")
    for name in ("results.json", "predictions.csv", "split.csv", "history.csv", "model_final.pt", "checkpoints/last.pt"):
        assert stat.S_IMODE((exp/name).stat().st_mode) == 0o664, name


def test_10_paths_and_types_fail_early_in_one_line(base, tmp_path):
    exp = _copy(base, tmp_path)
    (tmp_path/"a_file").write_text("")
    # every key's type and range is checked by validate_config (its cases: 14_train); one of them through the command here
    for override, msg in ((f"output_dir={tmp_path/'a_file'}", "output_dir: cannot create"), ("output_dir=/proc/runs", "output_dir: cannot create"),
                          ("training.num_epochs=1.5", "training.num_epochs: Value '1.5' of type 'float' could not be converted to Integer")):
        r = run([*TINY, override], tmp_path, check=False)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, (override, r.stderr[-1500:])
    images = Path(_rec(exp)["data"]["path"])/"train_images"
    r = run([f"experiment={exp}", f"images={images}", f"out={tmp_path}"], tmp_path, cmd=("severstal_predict",), check=False)
    assert r.returncode == 2 and "is a folder" in r.stderr and "images predicted" not in r.stdout, r.stderr
    r = run([f"experiment={exp}", f"images={images}", "device=cuda"], tmp_path, cmd=("severstal_predict",), check=False)
    import torch
    if not torch.cuda.is_available(): assert r.returncode == 2 and "no CUDA device" in r.stderr, r.stderr
    (tmp_path/"nulls"/"x").mkdir(parents=True); (tmp_path/"nulls"/"x"/"results.json").write_text("null")
    r = run([f"runs={tmp_path/'nulls'}"], tmp_path, cmd=("severstal_report",), check=False)        # reported, not a traceback
    assert r.returncode == 0 and "unreadable" in r.stdout and "not a run record" in r.stdout and "Traceback" not in r.stderr, r.stdout + r.stderr


def test_4_sixteen_bit_images_are_scaled_not_clipped(base, tmp_path):
    exp = _copy(base, tmp_path)
    src = Path(_rec(exp)["data"]["path"])/"train_images"
    (tmp_path/"g8").mkdir(); (tmp_path/"g16").mkdir()
    for p in sorted(src.glob("*.jpg"))[:4]:
        g = np.asarray(Image.open(p).convert("L"))
        Image.fromarray(g).save(tmp_path/"g8"/f"{p.stem}.png")
        Image.fromarray(g.astype(np.uint16) * 257).save(tmp_path/"g16"/f"{p.stem}.png")     # the same picture in 16 bits
    assert Image.open(next((tmp_path/"g16").iterdir())).mode == "I;16"
    for d in ("g8", "g16"): run([f"experiment={exp}", f"images={tmp_path/d}", f"out={tmp_path/d}.csv"], tmp_path, cmd=("severstal_predict",))
    a, b = (pd.read_csv(tmp_path/f"{d}.csv").set_index("ImageId")[[f"prob_c{c}" for c in (1, 2, 3, 4)]] for d in ("g8", "g16"))
    assert np.abs(a.to_numpy() - b.loc[a.index].to_numpy()).max() < 1e-6


def test_11_train_and_predict_read_a_folder_by_one_rule(base, tmp_path):
    home, exp0 = base
    exp = _copy(base, tmp_path)
    data = tmp_path/"data"; shutil.copytree(next((home/"cache").rglob("train.csv")).parent, data)
    imgs = data/"train_images"
    first = sorted(imgs.glob("*.jpg"))[0]
    (imgs/"._macos.jpg").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")     # macOS metadata: not an image, for both
    (imgs/"folder.jpg").mkdir()                                                      # a folder: not an image, for both
    r = run([*TINY, "training.num_epochs=1", f"data.path={data}", f"output_dir={tmp_path/'out'}"], tmp_path)
    assert _rec(experiments(tmp_path/"out")[0])["data"]["images"] == len(list(imgs.glob("[!.]*.jpg"))) - 1
    p = run([f"experiment={exp}", f"images={imgs}", f"out={tmp_path/'p.csv'}"], tmp_path, cmd=("severstal_predict",))
    got = pd.read_csv(tmp_path/"p.csv", keep_default_na=False)
    assert "._macos.jpg" not in set(got.ImageId) and "folder.jpg" not in set(got.ImageId) and (got.error == "").all()
    Image.open(first).save(first, format="PNG")                                      # PNG content named .jpg: refused by both
    r = run([*TINY, "training.num_epochs=1", f"data.path={data}", f"output_dir={tmp_path/'out2'}"], tmp_path, check=False)
    assert r.returncode == 2 and f"{first.name}: a PNG file named .jpg" in r.stderr, r.stderr[-1500:]
    run([f"experiment={exp}", f"images={imgs}", f"out={tmp_path/'p2.csv'}"], tmp_path, cmd=("severstal_predict",))
    got = pd.read_csv(tmp_path/"p2.csv", keep_default_na=False).set_index("ImageId")
    assert got.loc[first.name, "error"] == f"{first.name}: a PNG file named .jpg"
    old = data/"old.csv"                                                             # the original CSV format, rows missing
    old.write_text("ImageId_ClassId,EncodedPixels\n" + "".join(f"{first.name}_{c},\n" for c in (1, 2, 3)))
    r = run([*TINY, f"data.path={data}", "data.csv=old.csv", f"output_dir={tmp_path/'out3'}"], tmp_path, check=False)
    assert r.returncode == 2 and f"{first.name} lacks {first.name}_4" in r.stderr, r.stderr[-1500:]


_SIGNAL_IN_WRITE = """
import contextlib, os, signal, sys
from pathlib import Path
import severstal_cbam.record as record
real = record.atomic_write
class Interrupting:
    "The checkpoint file: this process gets SIGINT (as from the app's Stop) in the middle of writing it."
    def __init__(self, f): self.f, self.writes = f, 0
    def write(self, b):
        self.writes += 1
        if self.writes == 3: os.kill(os.getpid(), signal.SIGINT)
        return self.f.write(b)
    def __getattr__(self, k): return getattr(self.f, k)
@contextlib.contextmanager
def atomic_write(path, mode="w", **kw):
    with real(path, mode, **kw) as f: yield Interrupting(f) if Path(path).name == "last.pt" else f
record.atomic_write = atomic_write
from severstal_cbam.train import main
sys.argv = ["severstal_train", *sys.argv[1:]]
main()
"""


def test_9_a_signal_during_a_checkpoint_write_stops_cleanly(base, tmp_path):
    "Stop (SIGINT) while epoch 0's `last.pt` is being written: the write finishes, the run stops before the next batch, `interrupted`."
    import sys
    from severstal_cbam.record import load_checkpoint
    _copy(base, tmp_path, "unused")                                      # the cache
    r = run(["-c", _SIGNAL_IN_WRITE, *TINY, "training.num_epochs=3", f"output_dir={tmp_path/'out'}"], tmp_path, cmd=(sys.executable,), check=False)
    (exp,) = experiments(tmp_path/"out")
    rec = _rec(exp)
    assert r.returncode == 130 and rec["status"] == "interrupted" and "error" not in rec, (r.returncode, rec["status"], r.stderr[-3000:])
    assert rec["epochs_completed"] == 1 and "Traceback" not in (exp/"train.log").read_text(), r.stderr[-3000:]
    assert load_checkpoint(exp/"checkpoints"/"last.pt")["epoch"] == 1   # whole: epoch 0's state, loadable with weights_only=True
    assert not list((exp/"checkpoints").glob(".*.tmp"))                 # no half-written file left beside it
