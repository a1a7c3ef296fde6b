"""Data-parallel training on two CPU processes (torchrun, gloo): both ranks finish, one experiment folder is
written, its test metrics are those `severstal_predict` computes afterwards from the saved model, and every epoch
saw the whole split."""
import json, os, shutil, subprocess, sys, time
from pathlib import Path

import pytest

from helpers import TINY, experiments, run

TORCHRUN = shutil.which("torchrun") or str(Path(sys.executable).parent/"torchrun")


def launch(n, args, tmp):
    env = {**os.environ, "SEVERSTAL_CBAM_CACHE": str(tmp/"cache"), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    cmd = [TORCHRUN, "--standalone", f"--nproc_per_node={n}", "-m", "severstal_cbam.train", *args]
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp, timeout=900)
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout[-4000:]}\nstderr:\n{r.stderr[-4000:]}"
    return r, time.time() - t0


@pytest.mark.slow
@pytest.mark.parametrize("n", [2])
def test_two_cpu_processes_train_one_run(tmp_path, n):
    args = [*TINY, "data.synthetic_images=40", "training.num_epochs=2", "training.device=cpu"]
    r, secs = launch(n, [*args, f"output_dir={tmp_path/'ddp'}"], tmp_path)
    (exp,) = experiments(tmp_path/"ddp")                          # one folder, though two Hydra processes started
    res = json.loads((exp/"results.json").read_text())
    assert res["status"] == "completed" and res["processes"] == n

    # resume with N processes: one more epoch, in the same folder, the first two kept as they were
    launch(n, [*args[:-2], "training.num_epochs=3", "training.device=cpu", f"training.resume={exp}", f"output_dir={tmp_path/'ddp'}"], tmp_path)
    assert experiments(tmp_path/"ddp") == [exp]
    res2 = json.loads((exp/"results.json").read_text())
    assert [h["epoch"] for h in res2["history"]] == [0, 1, 2] and res2["history"][:2] == res["history"]
    assert res2["resumed"][0]["at_epoch"] == 2 and res2["status"] == "completed"
    res = res2
    assert res["global_batch_size"] == n * 4
    assert r.stdout.count("status: completed") == 1                # rank 0 reports, the other rank stays quiet
    sizes = res["data"]["split_sizes"]
    for h in res["history"]:
        assert h["valid_samples"] == sizes["valid"]                # metrics over the whole validation split
        assert sizes["train"] <= h["train_samples"] < sizes["train"] + n   # all of it, plus at most n-1 repeats to even the shards
    assert {p.name for p in (exp/"checkpoints").iterdir()} == {"last.pt", f"best_model_epoch{res['best']['epoch']:03d}.pt"}

    # the saved model, scored by severstal_predict on the run's test split, gives the run's test metrics
    run([f"experiment={exp}", "split=test", f"out={tmp_path/'t.csv'}"], tmp_path, cmd=("severstal_predict",))
    m = json.loads((tmp_path/"t_metrics.json").read_text())
    assert m["n_images"] == sizes["test"]
    assert abs(m["macro"]["f1"] - res["test"]["tuned"]["macro"]["f1"]) < 1e-6
    for c in ("1", "2", "3", "4"):
        a, b = m["per_class"][c]["roc_auc"], res["test"]["tuned"]["per_class"][c]["roc_auc"]
        assert (a is None and b is None) or abs(a - b) < 1e-5

    # the same run on one process, for the wall-time comparison reported in the notes
    _, secs1 = launch(1, [*args, f"output_dir={tmp_path/'one'}"], tmp_path)
    print(f"\nwall time, same run: 1 process {secs1:.1f} s, {n} processes {secs:.1f} s")


@pytest.mark.slow
def test_early_stopping_stops_both_ranks_together(tmp_path):
    # an lr of ~0 cannot improve the validation loss by min_delta: with patience 1, both ranks stop after epoch 1 of 5
    args = [*TINY[:-1], "data.synthetic_images=40", "training.device=cpu", "training.num_epochs=5", "training.lr=1e-12",
            "training.monitor=valid_loss", "training.early_stopping.enabled=true", "training.early_stopping.patience=1",
            "training.early_stopping.min_delta=0.001", f"output_dir={tmp_path/'es'}"]
    launch(2, args, tmp_path)                                       # both ranks exit 0: neither waits for the other
    (exp,) = experiments(tmp_path/"es")
    res = json.loads((exp/"results.json").read_text())
    assert res["status"] == "early_stopped" and len(res["history"]) == 2 and res["best"]["epoch"] == 0
