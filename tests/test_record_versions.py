"""A run recorded in the previous layout of `results.json` (version 1: no `schema_version`) still loads, predicts and
resumes. `data/record_v1.json` is the record severstal_cbam wrote at 1790e45 (the last version-1 layout) for the tiny
run below, one epoch; the test puts it in place of a fresh run's record -- in `results.json` and inside
`checkpoints/last.pt`, where a resume reads it -- and uses that run's weights."""
import json
from pathlib import Path

import torch

from severstal_cbam.config import load_config
from severstal_cbam.inference import load_experiment, predict
from severstal_cbam.record import RECORD_VERSION, load_checkpoint, read_record
from severstal_cbam.train import train

V1 = Path(__file__).parent/"data"/"record_v1.json"
TINY = ["data.synthetic_images=30", "data.image_size=[64,400]", "model.name=convnext_atto_cbam", "data.batch_size=4",
        "training.early_stopping.enabled=false", "training.precision=fp32"]


def _as_version_1(run: Path) -> dict:
    "Replace the run's record by the stored version-1 one (in results.json and in last.pt); return it."
    old = json.loads(V1.read_text())
    assert "schema_version" not in old and old["config"]["model"]["name"] == "convnext_atto_cbam"
    old["experiment_dir"] = str(run)
    (run/"results.json").write_text(json.dumps(old))
    last = run/"checkpoints"/"last.pt"
    state = load_checkpoint(last)
    inner = json.loads(state["state"]); inner["record"] = old; state["state"] = json.dumps(inner)
    torch.save(state, last)
    return old


def test_a_version_1_record_loads_predicts_and_resumes(tmp_path):
    out = [f"output_dir={tmp_path/'runs'}", f"data.cache_dir={tmp_path/'cache'}"]
    rec = train(load_config([*TINY, *out, "training.num_epochs=1"]))
    run = Path(rec["experiment_dir"])
    old = _as_version_1(run)

    assert read_record(run)["schema_version"] == RECORD_VERSION                  # read in the current layout
    exp = load_experiment(run)                                                   # loads: the record's thresholds, the run's weights
    assert exp.thresholds.tolist() == old["thresholds"]["tuned"] and exp.image_size == (64, 400)
    images = sorted((Path(rec["data"]["path"])/"train_images").iterdir())[:3]
    preds = predict(exp, images, progress=False)                                 # predicts
    assert len(preds) == 3 and preds.error.eq("").all() and preds.filter(like="prob_c").notna().all().all()

    res = train(load_config([*TINY, *out, "training.num_epochs=2", f"training.resume={run}"]))   # resumes
    assert (res["status"], res["schema_version"], len(res["history"])) == ("completed", RECORD_VERSION, 2)
    assert res["resumed"][0]["at_epoch"] == 1 and res["history"][0] == old["history"][0]      # the old epoch kept as recorded
    assert json.loads((run/"results.json").read_text())["schema_version"] == RECORD_VERSION
