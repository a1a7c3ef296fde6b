"""The real Severstal sample through the commands: a one-epoch quickstart trains on the thirty real images
(`data.dataset=sample`), `severstal_predict` reads the run back (its test split reproduced, and every real image
scored against the sample's labels with `labels=`) and `show_attention` draws.

Needs a local copy of the archive in `$SEVERSTAL_SAMPLE` (CI points it at its copy; `sample.severstal_sample` says
where the file comes from); without one these tests are skipped, saying so."""
import json, os

import pandas as pd
import pytest

from test_roundtrip import _check_attention, _check_predict_reproduces
from test_train_cli import experiments, run

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
    _check_predict_reproduces(exp, tmp_path/"test.csv", "severstal_predict split=test")

    real = tmp_path/"cache"/"severstal_sample"
    r = run([f"experiment={exp}", f"images={real/'train_images'}", f"labels={real/'train.csv'}", f"out={tmp_path/'real.csv'}"],
            tmp_path, cmd=("severstal_predict",))
    got = pd.read_csv(tmp_path/"real.csv", keep_default_na=False)
    assert len(got) == 30 and (got.error == "").all(), got.error
    m = json.loads((tmp_path/"real_metrics.json").read_text())
    assert m["n_images"] == 30 and m["per_class"]["3"]["support"] == 20 and m["per_class"]["4"]["support"] == 19, m["per_class"]
    assert m["per_class"]["1"]["roc_auc"] is None                                   # no real image of class 1: no AUC, not a number
    assert "train.csv, thresholds" in r.stdout
    _check_attention(exp)
