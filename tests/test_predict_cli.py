"""Process tests of `severstal_predict` and `severstal_report` on runs made by `severstal_train`: the command
line gives what training's own `learn.get_preds` gave, reports bad images without stopping, and an ablation is
one Hydra multirun plus one report."""
import json
from pathlib import Path

import numpy as np
import pytest
import pandas as pd
from PIL import Image

from helpers import TINY, experiments, run

PROBS = [f"prob_c{c}" for c in (1, 2, 3, 4)]


def test_predict_matches_training_preds_and_reports_bad_images(tmp_path):
    run([*TINY, "training.num_epochs=2", f"output_dir={tmp_path/'runs'}"], tmp_path)
    (exp,) = experiments(tmp_path/"runs")
    res = json.loads((exp/"results.json").read_text())
    ref = pd.read_csv(exp/"predictions.csv").query("split == 'test'")      # learn.get_preds during training
    src = Path(res["data"]["path"])/"train_images"
    folder = tmp_path/"new images"                                          # a space in the path, too
    folder.mkdir()
    for n in ref.ImageId: (folder/n).write_bytes((src/n).read_bytes())
    (folder/"broken.jpg").write_bytes((src/ref.ImageId.iloc[0]).read_bytes()[:300])
    Image.new("RGB", (1599, 256)).save(folder/"small.jpg")

    r = run([f"experiment={exp}", f"images={folder}", f"out={tmp_path/'out'/'preds.csv'}"], tmp_path, cmd=("severstal_predict",))
    assert "broken.jpg: cannot decode" in r.stderr and "small.jpg: 256x1599" in r.stderr, r.stderr
    assert f"{len(ref)} of {len(ref) + 2} images predicted" in r.stdout
    got = pd.read_csv(tmp_path/"out"/"preds.csv", keep_default_na=False)
    assert len(got) == len(ref) + 2
    ok = got[got.error == ""].set_index("ImageId").loc[ref.ImageId]
    np.testing.assert_allclose(ok[PROBS].astype(float).to_numpy(), ref[PROBS].to_numpy(), atol=1e-5)
    thr = np.array(res["thresholds"]["tuned"])
    np.testing.assert_array_equal(ok[["class_1", "class_2", "class_3", "class_4"]].astype(int).to_numpy(),
                                  (ref[PROBS].to_numpy() >= thr).astype(int))
    pres = pd.read_csv(tmp_path/"out"/"preds_presence.csv")
    assert list(pres.columns) == ["ImageId", "ClassId"] and len(pres) == int((ref[PROBS].to_numpy() >= thr).sum())

    # the run's own test split, scored: the metrics in results.json
    run([f"experiment={exp}", "split=test", f"out={tmp_path/'t.csv'}", "tta=none"], tmp_path, cmd=("severstal_predict",))
    m = json.loads((tmp_path/"t_metrics.json").read_text())
    assert abs(m["macro"]["f1"] - res["test"]["tuned"]["macro"]["f1"]) < 1e-6
    assert m["n_images"] == res["data"]["split_sizes"]["test"]

    bad = run([f"experiment={tmp_path}", f"images={folder}"], tmp_path, cmd=("severstal_predict",), check=False)
    assert bad.returncode == 2 and "not an experiment folder" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_ablation_is_one_multirun_and_one_report(tmp_path):
    run(["-m", *TINY, "training.num_epochs=1", "seed=0,1", "loss.type=focal_loss,bce", f"output_dir={tmp_path/'abl'}"], tmp_path)
    (sweep,) = [p for p in (tmp_path/"abl").iterdir() if p.name.startswith("multirun_")]
    runs = sorted(sweep.rglob("results.json"))
    assert len(runs) == 4
    r = run([f"runs={sweep}"], tmp_path, cmd=("severstal_report",))
    for n in ("comparison.csv", "comparison.png", "ablation.csv", "ablation.md", "ablation.png"): assert (sweep/n).stat().st_size > 0
    cmp = pd.read_csv(sweep/"comparison.csv")
    assert len(cmp) == 4 and {"loss.type", "seed"} <= set(cmp.columns)
    md = (sweep/"ablation.md").read_text()
    assert "| focal_loss | 2 |" in md and "| bce | 2 |" in md, md
    assert "±" in r.stdout
