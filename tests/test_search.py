"""Process test of the hyperparameter search (`severstal_train -m hparams_search=...`, nbs/14a_search.ipynb): a 2-trial
Optuna search of one-epoch tiny runs, its report, and the same command again continuing the study."""
import json
from pathlib import Path

import pytest

from test_train_cli import run

SEARCH = ["-m", "--config-name", "quickstart", "hparams_search=quickstart_optuna", "training.num_epochs=1", "data.synthetic_images=24",
          "data.image_size=[64,400]", "data.batch_size=4", "training.monitor=valid_loss"]   # valid_loss: defined on 4 validation images


@pytest.mark.slow
def test_search_resumes_and_reports_the_best_trial(tmp_path):
    from severstal_cbam.search import load_study
    out = tmp_path/"out"
    run([*SEARCH, "hydra.sweeper.n_trials=2", f"output_dir={out}"], tmp_path)
    folder = out/"hparams_search"/"quickstart_optuna"
    study = load_study(folder)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 2
    r = run([f"runs={folder}"], tmp_path, cmd=("severstal_report",))
    best = json.loads((folder/"best.json").read_text())
    values = {t.number: t.value for t in study.trials}
    assert best["value"] == min(values.values()) and values[best["number"]] == best["value"]       # valid_loss: minimised
    assert json.loads((Path(best["run_dir"])/"results.json").read_text())["best"]["value"] == best["value"]
    assert f"best: trial {best['number']}" in r.stdout and best["command"] in r.stdout
    assert (folder/"optimization_history.png").stat().st_size > 0 and (folder/"param_importances.png").stat().st_size > 0

    run([*SEARCH, "hydra.sweeper.n_trials=1", f"output_dir={out}"], tmp_path)                     # the same command: the same study
    assert len(load_study(folder).trials) == 3

    # a trial whose sampled config cannot work is recorded as failed, with its reason, and the command still ends well
    run([*SEARCH, "hydra.sweeper.n_trials=1", "+hydra.sweeper.params.training.optimizer='choice(adamw_typo)'", f"output_dir={out}"], tmp_path)
    last = load_study(folder).trials[-1]
    assert last.state.name == "FAIL" and "training.optimizer" in last.user_attrs["reason"], last.user_attrs


def test_a_search_without_multirun_is_one_line(tmp_path):
    r = run(["--config-name", "quickstart", "hparams_search=quickstart_optuna", f"output_dir={tmp_path/'out'}"], tmp_path, check=False)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1] == \
        "severstal_train: error: hparams_search: a search is a multirun: severstal_train -m hparams_search=...", r.stderr
    assert not list((tmp_path/"out").rglob("results.json"))
