"""The seams between commands. For every shipped config -- the default `train_config`, `--config-name quickstart`,
`experiment=seed`, `--config-name realsteel` (whose evaluation averages flipped views: predict and the export must too), `--config-name quickstart_segment` and
`experiment=segment` (their submissions, from the run and from its ONNX file), and every `model.norm` x `model.head_pool` -- a run trained by `severstal_train` is read back
by `severstal_predict split=test`, which must reproduce the test probabilities in the run's own `predictions.csv`,
`show_attention` must draw for it, and `severstal_export`'s model.onnx, predicted by `severstal_predict model=`, must
reproduce them too (within 1e-4, the export's parity tolerance). Runs are shrunk (ConvNeXt-atto + CBAM, 24 images at 64x400, one epoch);
what is checked is that every architecture option survives the trip from config to checkpoint to a second command.

Tolerance: 1e-5 when the run evaluated in fp32 (measured: 0.0), 2e-3 when it evaluated under bf16/fp16 autocast
(`precision=auto` on a bf16 CPU or a GPU): prediction then runs in the same precision, but in batches of another
size than training's evaluation."""
import json, os, subprocess
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from helpers import PROBS, check_attention, check_predict_reproduces, experiments, run, tolerance

matplotlib.use("Agg")
SHRINK = ["training.num_epochs=1", "data.synthetic_images=24", "data.image_size=[64,400]", "data.batch_size=4",
          "model.name=convnext_atto_cbam", "training.early_stopping.enabled=false"]
SHIPPED = {"train_config": [], "quickstart": ["--config-name", "quickstart"], "experiment=seed": ["experiment=seed"],
           "realsteel": ["--config-name", "realsteel"]}     # data.path: a 40-image synthetic folder in the Kaggle layout
NORMS, POOLS = ("layernorm", "batchnorm"), ("avg", "max", "avgmax", "catavgmax", "gem")


def _check_onnx_round_trip(exp, shared, out):
    "`severstal_export` writes the run's model.onnx; `severstal_predict model=` reproduces the run's test probabilities from it."
    r = run([f"experiment={exp}", "parity_images=4"], shared, cmd=("severstal_export",))
    assert "max |p_onnx - p_torch|" in r.stdout, r.stdout
    run([f"model={exp/'model.onnx'}", "split=test", f"out={out/'onnx.csv'}"], shared, cmd=("severstal_predict",))
    rec = json.loads((exp/"results.json").read_text())
    ref = pd.read_csv(exp/"predictions.csv").query("split == 'test'").set_index("ImageId")
    table = out/("onnx_images.csv" if rec["config"]["model"]["task"] == "segment" else "onnx.csv")   # a segmentation run's: beside its submission
    got = pd.read_csv(table, keep_default_na=False).set_index("ImageId").loc[ref.index]
    diff = np.abs(got[PROBS].astype(float).to_numpy() - ref[PROBS].to_numpy()).max()
    seg = 2.5 if rec["config"]["model"]["task"] == "segment" else 1     # the highest of ~26,000 pixel probabilities of a bf16 run moves more
    assert diff <= max(1e-4, tolerance(rec) * seg), f"{exp.name} (ONNX): max |diff| {diff:.3g}"   # than one pooled one (measured: 2.1e-3)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    "One folder, and one synthetic-data cache, for every run of this module."
    return tmp_path_factory.mktemp("roundtrip")


@pytest.fixture(scope="module")
def imagenet_file(shared):
    "A stand-in for timm's ImageNet checkpoint of ConvNeXt-atto (random weights, same keys and shapes), as a user passes it offline."
    import timm
    from safetensors.torch import save_file
    path = shared/"convnext_atto.safetensors"
    save_file(timm.create_model("convnext_atto").state_dict(), str(path))
    return path


def _check_seed_preset(rec, exp, weights):
    "experiment=seed: the file's weights loaded into the backbone, and each batch's lr on the warm-up + cosine curve."
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from severstal_cbam.callbacks import warmup_cosine
    t = rec["config"]["training"]
    assert (rec["config"]["model"]["pretrained"], t["schedule"]) == (True, "warmup_cosine")
    assert rec["weights"]["file"] == str(weights) and rec["weights"]["loaded"] > 100, rec["weights"]
    assert all(k.startswith(("cbam.", "head.fc.")) for k in rec["weights"]["new"]), rec["weights"]["new"]
    lrs = [e.value for e in EventAccumulator(str(exp/"tensorboard")).Reload().Scalars("batch/lr_1")]
    sched = warmup_cosine(t["lr"], t["warmup_pct"])
    assert len(lrs) >= 4 and np.allclose(lrs, [sched(i / len(lrs)) for i in range(len(lrs))], rtol=1e-5), lrs


@pytest.mark.parametrize("name", list(SHIPPED))
def test_shipped_config_round_trip(shared, imagenet_file, name):
    out = shared/name.replace("=", "_")
    extra = [f"model.weights={imagenet_file}", "training.tensorboard=true"] if name == "experiment=seed" else []
    if name == "realsteel":
        from severstal_cbam.synthetic import synthetic_dataset
        extra = [f"data.path={synthetic_dataset(40, 0, shared/'cache')}"]
    run([*SHIPPED[name], *SHRINK, *extra, f"output_dir={out}"], shared)
    (exp,) = experiments(out)
    pred = run([f"experiment={exp}", "split=test", f"out={out/'pred.csv'}"], shared, cmd=("severstal_predict",))
    assert "note: the run evaluated in" not in pred.stderr        # the default reproduces the run's own evaluation
    rec = check_predict_reproduces(exp, out/"pred.csv", "severstal_predict")
    assert rec["config"]["model"]["name"] == "convnext_atto_cbam"
    if name == "quickstart": assert (rec["config"]["model"]["norm"], rec["config"]["model"]["head_pool"]) == ("batchnorm", "max")
    if name == "experiment=seed": _check_seed_preset(rec, exp, imagenet_file)
    if name == "realsteel": assert (rec["config"]["metrics"]["tta"], rec["config"]["data"]["split_strategy"]) == ("hvflip", "stratified_80_10_10")
    check_attention(exp)
    _check_onnx_round_trip(exp, shared, out)


SEGMENT = {"quickstart_segment": ["--config-name", "quickstart_segment"], "experiment=segment": ["experiment=segment", "data.train_crop=[64,224]"]}


@pytest.mark.parametrize("name", list(SEGMENT))
def test_segment_preset_round_trip(shared, imagenet_file, name):
    """The segmentation presets (shrunk, at 64x416: the decoder needs sides divisible by 32; `experiment=segment`'s ImageNet weights from a
    file, its hflip TTA undone on the masks): `severstal_predict split=test` writes a submission whose per-image table reproduces the run's
    own highest pixel probabilities, whose masks decode to the table's areas, and whose Kaggle Dice is the run's test Dice at full size;
    the attention draws with the masks outlined; the ONNX export's submission reproduces the probabilities too."""
    from severstal_cbam.labels import read_annotations
    from severstal_cbam.rle import rle_decode
    out = shared/name.replace("=", "_")
    shrink = [o if not o.startswith("data.image_size=") else "data.image_size=[64,416]" for o in SHRINK]
    extra = [f"model.weights={imagenet_file}"] if name == "experiment=segment" else []
    run([*SEGMENT[name], *shrink, *extra, f"output_dir={out}"], shared)
    (exp,) = experiments(out)
    r = run([f"experiment={exp}", "split=test", f"out={out/'sub.csv'}"], shared, cmd=("severstal_predict",))
    assert "Kaggle Dice" in r.stdout and "minimum areas" in r.stdout, r.stdout
    rec = check_predict_reproduces(exp, out/"sub_images.csv", "severstal_predict")
    table = pd.read_csv(out/"sub_images.csv", keep_default_na=False).set_index("ImageId")
    masks = read_annotations(out/"sub.csv").set_index(["ImageId", "ClassId"]).EncodedPixels
    for name, row in table.iterrows():
        for c in range(1, 5): assert rle_decode(masks.get((name, c))).sum() == row[f"area_c{c}"], (name, c)
    m = json.loads((out/"sub_metrics.json").read_text())
    assert m["n_images"] == rec["data"]["split_sizes"]["test"] and abs(m["dice"] - rec["test"]["tuned"]["dice"]) <= 0.05, (m["dice"], rec["test"])
    if name == "experiment=segment":
        assert (rec["config"]["metrics"]["tta"], rec["config"]["model"]["decoder"], rec["weights"]["file"]) == ("hflip", "unet", str(imagenet_file))
    check_attention(exp)
    _check_onnx_round_trip(exp, shared, out)


@pytest.mark.slow
def test_every_norm_and_head_pool_round_trips(shared):
    "One Hydra multirun trains the ten architectures; each is read back by the predict command and drawn."
    from severstal_cbam.predict_cli import predict_cli
    out = shared/"grid"
    run(["-m", *SHRINK, f"model.norm={','.join(NORMS)}", f"model.head_pool={','.join(POOLS)}", f"output_dir={out}"], shared)
    runs = sorted(p.parent for p in out.rglob("results.json"))
    seen = set()
    for exp in runs:
        m = json.loads((exp/"results.json").read_text())["config"]["model"]
        seen.add((m["norm"], m["head_pool"]))
        assert predict_cli([f"experiment={exp}", "split=test", f"out={exp/'roundtrip.csv'}"]) == 0
        check_predict_reproduces(exp, exp/"roundtrip.csv", "predict_cli")
        check_attention(exp)
    assert seen == {(n, p) for n in NORMS for p in POOLS}


def test_simultaneous_runs_keep_their_own_folders(shared):
    """Three runs started at once, forced onto the same folder name (as two runs started in the same second are):
    each claims its own folder and keeps its own complete record."""
    out = shared/"together"
    base = f"hydra.run.dir=${{severstal_run_dir:'{out}/experiment_same'}}"
    env = {**os.environ, "SEVERSTAL_CBAM_CACHE": str(shared/"cache")}
    procs = [subprocess.Popen(["severstal_train", *SHRINK, f"seed={s}", base], cwd=shared, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for s in (1, 2, 3)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    folders = sorted(p.name for p in out.iterdir())
    assert folders == ["experiment_same", "experiment_same_1", "experiment_same_2"], folders
    seeds = set()
    for f in folders:
        rec = json.loads((out/f/"results.json").read_text())
        assert rec["status"] == "completed" and Path(rec["experiment_dir"]).name == f
        assert {"predictions.csv", "split.csv", "model_final.pt", "history.csv"} <= {p.name for p in (out/f).iterdir()}
        assert rec["config"]["seed"] == rec["seed"]
        seeds.add(rec["seed"])
    assert seeds == {1, 2, 3}
    printed = {line.split("results: ")[1] for o, _ in outs for line in o.splitlines() if line.startswith("results: ")}
    assert printed == {str(out/f/"results.json") for f in folders}        # each run told its user its own folder
