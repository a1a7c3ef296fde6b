"""What the process tests share: running a command (forked from a preloaded server where it can be), the run
folders it leaves, and the checks several tests make of a run. A module of helpers, imported by the test modules
(`from helpers import run, ...`), so that no test module imports another."""
import json, os, subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cli_child import COMMANDS, run_command

PROBS = [f"prob_c{c}" for c in (1, 2, 3, 4)]
TINY = ["data.synthetic_images=30", "data.image_size=[64,400]", "model.name=convnext_atto_cbam", "data.batch_size=4",
        "training.early_stopping.enabled=false"]
RESULT_KEYS = {"schema_version", "status", "experiment_dir", "config", "environment", "device", "precision", "channels_last", "seed", "data",
               "class_frequencies", "alpha", "params", "weights", "history", "best", "thresholds", "valid", "test", "timing",
               "epochs_completed", "resumed"}


def run(args, tmp, cmd=("severstal_train",), check=True, env=None):
    "Run a command; one of the package's console scripts without extra environment runs forked from a preloaded server (cli_child)."
    full_env = {**os.environ, "SEVERSTAL_CBAM_CACHE": str(tmp/"cache"), "PYTHONUNBUFFERED": "1", **(env or {})}
    if len(cmd) == 1 and cmd[0] in COMMANDS and not env: r = run_command(cmd[0], args, full_env, tmp)
    else: r = subprocess.run([*cmd, *args], capture_output=True, text=True, env=full_env, cwd=tmp, timeout=900)
    if check: assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}"
    return r


def experiments(out):
    return sorted(p for p in Path(out).iterdir() if p.name.startswith("experiment_"))


def check_run(exp, epochs):
    names = {p.name for p in exp.iterdir()}
    assert {"results.json", "model_final.pt", "checkpoints", ".hydra", "history.csv", "train.log"} <= names, names
    log = (exp/"train.log").read_text()
    assert " INFO severstal_cbam: config:" in log and " INFO severstal_cbam: parameters: " in log, log[:2000]
    assert all(f"epoch {e}/" in log for e in range(epochs)), log[-2000:]
    assert {"config.yaml", "overrides.yaml", "hydra.yaml"} <= {p.name for p in (exp/".hydra").iterdir()}
    ckpts = sorted(p.name for p in (exp/"checkpoints").iterdir())
    assert "last.pt" in ckpts and len([c for c in ckpts if c.startswith("best_model_epoch")]) == 1, ckpts
    res = json.loads((exp/"results.json").read_text())
    assert RESULT_KEYS <= set(res), RESULT_KEYS - set(res)
    assert res["status"] == "completed"
    assert [h["epoch"] for h in res["history"]] == list(range(epochs))
    for h in res["history"]:
        assert {"train_loss", "valid_loss", "f1_macro", "f1_micro", "precision_c1", "recall_c4", "accuracy", "hamming_loss", "lr", "seconds"} <= set(h)
    for split in ("threshold", "tuned"):
        m = res["test"][split]
        assert {"per_class", "macro", "micro", "accuracy", "hamming_loss", "any_defect"} <= set(m)
        assert m["n_images"] == res["data"]["split_sizes"]["test"]
    assert sum(res["data"]["split_sizes"].values()) == res["data"]["images"]
    sd = torch.load(exp/"model_final.pt", weights_only=True)
    assert any(k.startswith("cbam.") for k in sd)
    return res


def tolerance(record):
    return 1e-5 if record["precision"] == "fp32" else 2e-3


def check_predict_reproduces(exp, out_csv, predicted):
    "The test rows `severstal_predict split=test` wrote equal the run's own test probabilities."
    rec = json.loads((exp/"results.json").read_text())
    ref = pd.read_csv(exp/"predictions.csv").query("split == 'test'").set_index("ImageId")
    got = pd.read_csv(out_csv, keep_default_na=False).set_index("ImageId").loc[ref.index]
    assert (got.error == "").all(), got.error
    diff = np.abs(got[PROBS].astype(float).to_numpy() - ref[PROBS].to_numpy()).max()
    assert diff <= tolerance(rec), f"{exp.name} ({predicted}): max |diff| {diff:.3g} > {tolerance(rec)}"
    return rec


def check_attention(exp):
    "`show_attention` draws the run's attention maps over two of its test images."
    import matplotlib.pyplot as plt
    from severstal_cbam.inference import load_experiment
    from severstal_cbam.interpret import show_attention
    e = load_experiment(exp)
    test = pd.read_csv(exp/"predictions.csv").query("split == 'test'").head(2)
    images = Path(e.record["data"]["path"])/e.config["data"]["images"]
    fig = show_attention(e, [images/n for n in test.ImageId])
    assert len(fig.axes) == 2 * (1 + len(e.config["model"]["cbam_stages"]))
    plt.close(fig)
