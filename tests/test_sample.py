"""The real Severstal sample through the commands: a one-epoch quickstart trains on the thirty real images
(`data.dataset=sample`), `severstal_predict` reads the run back (its test split reproduced; the sample's images scored
against its labels with `labels=`: refused for the images the run trained on, scored with the attention measures for the
ones it held out) and `show_attention` draws.

Needs a local copy of the archive in `$SEVERSTAL_SAMPLE` (CI points it at its copy; `sample.severstal_sample` says
where the file comes from); without one these tests are skipped, saying so."""
import json, os, shutil

import pandas as pd
import pytest

from helpers import check_attention, check_predict_reproduces
from helpers import experiments, run

pytestmark = pytest.mark.skipif(not os.environ.get("SEVERSTAL_SAMPLE"),
                                reason="$SEVERSTAL_SAMPLE is not set: no local copy of the real Severstal sample "
                                       "(sample_data.tar.gz, see nbs/02a_sample.ipynb)")


def test_quickstart_on_the_real_sample_trains_predicts_and_draws(tmp_path):
    out = tmp_path/"runs"
    r = run(["--config-name", "quickstart", "data.dataset=sample", "training.num_epochs=1", f"output_dir={out}"], tmp_path)
    (exp,) = experiments(out)
    rec = json.loads((exp/"results.json").read_text())
    assert rec["status"] == "completed" and rec["data"]["images"] == 30 and not rec["data"]["synthetic"], rec["data"]
    assert rec["data"]["path"] == str(tmp_path/"cache"/"severstal_sample")        # unpacked from the local copy, in the cache
    assert "test" in r.stdout

    run([f"experiment={exp}", "split=test", f"out={tmp_path/'test.csv'}"], tmp_path, cmd=("severstal_predict",))
    check_predict_reproduces(exp, tmp_path/"test.csv", "severstal_predict split=test")

    real = tmp_path/"cache"/"severstal_sample"
    r = run([f"experiment={exp}", f"images={real/'train_images'}", f"labels={real/'train.csv'}", f"out={tmp_path/'all.csv'}"],
            tmp_path, cmd=("severstal_predict",), check=False)
    assert r.returncode == 2 and "image(s) to score are images the model trained on" in r.stderr, r.stderr   # its own training images
    held = tmp_path/"held"; (held/"train_images").mkdir(parents=True)             # the real images the run held out, in a folder of their own
    split = pd.read_csv(exp/"split.csv")
    names = set(split.ImageId[split.split != "train"])
    for n in names: shutil.copy(real/"train_images"/n, held/"train_images"/n)
    ann = pd.read_csv(real/"train.csv")
    ann[ann.ImageId.isin(names)].to_csv(held/"train.csv", index=False)
    r = run([f"experiment={exp}", f"images={held/'train_images'}", f"labels={held/'train.csv'}", f"out={tmp_path/'real.csv'}"],
            tmp_path, cmd=("severstal_predict",))
    got = pd.read_csv(tmp_path/"real.csv", keep_default_na=False)
    assert len(got) == len(names) and (got.error == "").all(), got.error
    m = json.loads((tmp_path/"real_metrics.json").read_text())
    assert m["n_images"] == len(names), m
    assert m["per_class"]["1"]["roc_auc"] is None                                   # no real image of class 1: no AUC, not a number
    assert "train.csv, thresholds" in r.stdout and "pointing-game hit rate against the masks" in r.stdout
    masked = ann[ann.ImageId.isin(names)].ClassId.value_counts()                   # where the model looks, per class with a mask
    assert {c: v["gradcam"]["images"] for c, v in m["attention"].items()} == {str(c): int(k) for c, k in masked.items()}, m["attention"]
    check_attention(exp)
