"""Process test of the hyperparameter search (`severstal_train -m hparams_search=...`, nbs/14a_search.ipynb): a 2-trial
Optuna search of one-epoch tiny runs, its report, and the same command again continuing the study."""
import json
from pathlib import Path

import pytest

from helpers import run

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


def _search_until(tmp_path, out, ready, sig, n_trials=3, epochs=8):
    "Start a search of `n_trials` long tiny trials, wait until `ready()`, send `sig`; the exit status and output."
    import os, signal, subprocess, time
    proc = subprocess.Popen(["severstal_train", *[a.replace("training.num_epochs=1", f"training.num_epochs={epochs}") for a in SEARCH],
                             f"hydra.sweeper.n_trials={n_trials}", f"output_dir={out}"], cwd=tmp_path, text=True,
                            env={**os.environ, "SEVERSTAL_CBAM_CACHE": str(tmp_path/"cache"), "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    t0 = time.time()
    while not ready():
        assert proc.poll() is None and time.time() - t0 < 300, proc.communicate()[0][-3000:]
        time.sleep(0.1)
    proc.send_signal(sig)
    return proc.wait(timeout=120), proc.communicate()[0]


@pytest.mark.slow
def test_an_interrupted_or_killed_search_leaves_no_trial_running(tmp_path):
    "Ctrl-C in a trial: the trial is recorded failed ('interrupted') and the search stops (exit 130); a SIGKILLed one's trial is failed at the next open."
    import signal
    from severstal_cbam.search import load_study
    out = tmp_path/"out"
    folder = out/"hparams_search"/"quickstart_optuna"
    started = lambda n: lambda: folder.is_dir() and len(list(folder.glob("*/checkpoints/last.pt"))) >= n   # trial n-1 finished an epoch
    code, log = _search_until(tmp_path, out, started(1), signal.SIGINT)
    states = [(t.state.name, t.user_attrs.get("reason")) for t in load_study(folder).trials]
    assert code == 130 and states == [("FAIL", "interrupted")], (code, states, log[-3000:])
    code, log = _search_until(tmp_path, out, started(2), signal.SIGKILL)
    trials = load_study(folder).trials                                                          # killed: nobody told Optuna, but
    assert code == -9 and [t.state.name for t in trials] == ["FAIL", "FAIL"], [(t.state.name, t.user_attrs) for t in trials]
    assert "ended without reporting" in trials[1].user_attrs["reason"], trials[1].user_attrs     # opened again: the stale trial is failed
    same = [a.replace("training.num_epochs=1", "training.num_epochs=8") for a in SEARCH]         # the same settings: the same study
    run([*same, "hydra.sweeper.n_trials=1", f"output_dir={out}"], tmp_path)                     # and the search goes on
    assert [t.state.name for t in load_study(folder).trials] == ["FAIL", "FAIL", "COMPLETE"]


@pytest.mark.slow
def test_a_study_continues_only_under_its_own_objective(tmp_path):
    from severstal_cbam.search import load_study
    out = tmp_path/"out"
    run([*SEARCH, "hydra.sweeper.n_trials=1", f"output_dir={out}"], tmp_path)
    for change, what in (("training.num_epochs=2", "training.num_epochs=2"), ("data.synthetic_images=30", "data.synthetic_images=30")):
        args = [a for a in SEARCH if a.split("=")[0] != change.split("=")[0]] + [change]
        r = run([*args, "hydra.sweeper.n_trials=1", f"output_dir={out}"], tmp_path, check=False)
        assert r.returncode == 2 and "was searched with other settings" in r.stderr and what in r.stderr, r.stderr[-2000:]
    assert len(load_study(out/"hparams_search"/"quickstart_optuna").trials) == 1
