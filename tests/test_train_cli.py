"""Process tests of the `severstal_train` command: both ways of calling it, what a run leaves, resume, and
bad configs failing cleanly before any data is touched."""
import json, sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import PROBS, TINY, check_run, experiments, run


def test_cli_and_module_both_train_and_leave_a_complete_record(tmp_path):
    r = run([*TINY, "training.num_epochs=2", f"output_dir={tmp_path/'a'}"], tmp_path)
    (exp,) = experiments(tmp_path/"a")
    check_run(exp, 2)
    assert f"results: {exp.resolve()/'results.json'}" in r.stdout
    macro = json.loads((exp/"results.json").read_text())["test"]["tuned"]["macro"]
    assert f"macro F1 {macro['f1']:.3f}" in r.stdout   # the closing summary quotes the record
    assert "epoch 1/2: train_loss " in r.stdout and " DEBUG " not in (exp/"train.log").read_text()   # the log on the console too; INFO
    # python -m, with Hydra's force-override syntax; hydra.verbose=severstal_cbam: the library's DEBUG lines too
    run([*TINY, "++training.num_epochs=1", "hydra.verbose=severstal_cbam", f"output_dir={tmp_path/'b'}"], tmp_path,
        cmd=(sys.executable, "-m", "severstal_cbam.train"))
    (exp_b,) = experiments(tmp_path/"b")
    res_b = check_run(exp_b, 1)
    assert res_b["config"]["training"]["num_epochs"] == 1
    log_b = (exp_b/"train.log").read_text()
    assert " DEBUG severstal_cbam: loader: " in log_b and " DEBUG severstal_cbam: fit: 1 epochs from 0, one_cycle" in log_b, log_b[:3000]


def test_resume_continues_in_the_same_folder_at_the_right_epoch(tmp_path):
    out = tmp_path/"runs"
    run([*TINY, "training.num_epochs=1", f"output_dir={out}"], tmp_path)
    (exp,) = experiments(out)
    first = json.loads((exp/"results.json").read_text())
    run([*TINY, "training.num_epochs=3", f"output_dir={out}", f"training.resume={exp}"], tmp_path)
    assert experiments(out) == [exp]                       # no second experiment folder
    res = check_run(exp, 3)
    assert res["history"][0] == first["history"][0]        # epoch 0 is not trained again
    assert res["resumed"][0]["at_epoch"] == 1
    assert any(p.name.startswith("resume_") for p in (exp/".hydra").iterdir())


def test_a_segmentation_run_resumes(tmp_path):
    "A segmentation run resumed for two more epochs: the same folder, epoch 0 not trained again, Dice every epoch, its masks scored at the end."
    out = tmp_path/"runs"
    seg = ["--config-name", "quickstart_segment", *[o for o in TINY if not o.startswith("data.image_size=")], "data.image_size=[64,416]"]
    run([*seg, "training.num_epochs=1", f"output_dir={out}"], tmp_path)
    (exp,) = experiments(out)
    first = json.loads((exp/"results.json").read_text())
    run([*seg, "training.num_epochs=3", f"output_dir={out}", f"training.resume={exp}"], tmp_path)
    assert experiments(out) == [exp]
    res = json.loads((exp/"results.json").read_text())
    assert res["status"] == "completed" and [h["epoch"] for h in res["history"]] == [0, 1, 2]
    assert res["history"][0] == first["history"][0] and res["resumed"][0]["at_epoch"] == 1
    assert all({"dice", "dice_c1", "iou_c4"} <= set(h) for h in res["history"]), res["history"][-1]
    assert "dice" in res["test"]["tuned"] and len(res["min_area"]) == 4 and res["best"]["monitor"] == "dice"


@pytest.mark.parametrize("override,message", [
    ("model.name=convnext_huge_cbam", "Known models: convnext_atto"),
    ("loss.type=dice", "Known losses: bce, bce_dice, focal_dice, focal_loss"),
    ("data.path=/does/not/exist", "data.path: folder not found: /does/not/exist"),
    ("training.schedule=step", "training.schedule: Invalid value 'step', expected one of [one_cycle, warmup_cosine]"),
])
def test_bad_config_fails_clearly_before_touching_data(tmp_path, override, message):
    r = run([override, f"output_dir={tmp_path/'runs'}"], tmp_path, check=False)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path/"cache").exists()                 # the synthetic data set was not generated
    assert not (tmp_path/"runs").exists() or not experiments(tmp_path/"runs")   # and no experiment folder is left


def test_unknown_key_is_hydras_error(tmp_path):
    r = run(["model.nmae=x"], tmp_path, check=False)
    assert r.returncode != 0 and "nmae" in r.stderr and "Traceback" not in r.stderr


def test_full_resolution_smoke(tmp_path):
    r = run(["data.synthetic_images=20", "model.name=convnext_atto_cbam", "data.batch_size=4", "training.num_epochs=1",
             f"output_dir={tmp_path/'runs'}"], tmp_path)
    (exp,) = experiments(tmp_path/"runs")
    res = check_run(exp, 1)
    assert res["config"]["data"]["image_size"] is None
    # deployment at full resolution: fp32 + static int8 export, each predicting the run's test split from the file
    r = run([f"experiment={exp}", "int8=true", "calibration_images=4"], tmp_path, cmd=("severstal_export",))
    assert "max |p_onnx - p_torch|" in r.stdout and "max |p_int8 - p_torch|" in r.stdout, r.stdout
    ref = pd.read_csv(exp/"predictions.csv").query("split == 'test'").set_index("ImageId")
    for f in ("model.onnx", "model.int8.onnx"):
        run([f"model={exp/f}", "split=test", f"out={tmp_path/f}.csv"], tmp_path, cmd=("severstal_predict",))
        got = pd.read_csv(tmp_path/f"{f}.csv").set_index("ImageId").loc[ref.index, PROBS].to_numpy()
        assert np.abs(got - ref[PROBS].to_numpy()).max() <= (1e-4 if f == "model.onnx" and res["precision"] == "fp32" else 0.1), (f, got, ref)
    bad = tmp_path/"corrupt.onnx"                                             # a truncated copy: one line naming the file
    bad.write_bytes((exp/"model.onnx").read_bytes()[:4096])
    r = run([f"model={bad}", f"images={Path(res['data']['path'])/'train_images'}"], tmp_path, cmd=("severstal_predict",), check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith(f"severstal_predict: error: {bad}: not a readable ONNX model"), r.stderr
    r = run([f"experiment={tmp_path}"], tmp_path, cmd=("severstal_export",), check=False)
    assert r.returncode == 2 and r.stderr.strip() == f"severstal_export: error: not an experiment folder: no results.json at {tmp_path/'results.json'}", r.stderr


def test_unexpected_errors_keep_their_traceback(tmp_path):
    "The library's own errors are one line (exit 2); an error from inside torch or a bug keeps its traceback (exit 1)."
    script = ("import sys, severstal_cbam.train as t\n"
              "def boom(*a, **k): raise RuntimeError('CUDA out of memory. Tried to allocate 2.00 GiB')\n"
              "t.build_learner = boom\n"
              "sys.argv = ['severstal_train', *sys.argv[1:]]\n"
              "t.main()\n")
    r = run(["-c", script, *TINY, f"output_dir={tmp_path/'runs'}"], tmp_path, cmd=(sys.executable,), check=False)
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    assert "Traceback" in r.stderr and "CUDA out of memory" in r.stderr and "in boom" in r.stderr, r.stderr[-2000:]
    r = run([*TINY, "data.batch_size=0", f"output_dir={tmp_path/'runs'}"], tmp_path, check=False)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1] == \
        "severstal_train: error: data.batch_size: must be >= 1, got 0", r.stderr


def test_seed_preset_offline_stops_before_the_data(tmp_path):
    "`experiment=seed` asks for ImageNet weights: with no hub and no cached copy it stops in one line naming model.weights, touching no data."
    r = run(["experiment=seed", "model.name=convnext_atto_cbam", f"output_dir={tmp_path/'runs'}"], tmp_path, check=False,
            env={"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path/"hf")})   # nothing listens there; an empty hub cache
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("severstal_train: error: model.pretrained: no ImageNet weights for convnext_atto") and "model.weights=<file>" in last, r.stderr
    assert "Traceback" not in r.stderr and "Retrying" not in r.stderr, r.stderr
    assert not (tmp_path/"cache").exists()                             # no data set generated
    assert not (tmp_path/"runs").exists() or not list((tmp_path/"runs").iterdir())   # and no run folder left
