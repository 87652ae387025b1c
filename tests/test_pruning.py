"""CurveWatch: epochs reported in the study's direction, and the median rule for several objectives."""

from __future__ import annotations

import optuna
import pytest

from sweep.run.curve import CurveWatch
from sweep.run.follow import JobLog
from sweep.study.schema import PrunerSpec


def _spec(**kw: object) -> PrunerSpec:
    return PrunerSpec.model_validate({"name": "median", **kw})


@pytest.mark.parametrize(("direction", "curve", "name", "sign"), [
    ("maximize", "val_accuracy", "median", 1.0),
    ("minimize", "val_accuracy", "median", -1.0),
    ("minimize", "val_loss", "median", 1.0),
    ("maximize", "val_loss", "median", -1.0),
    ("minimize", "val_accuracy", "threshold", 1.0),  # thresholds are on the raw values
])
def test_epochs_are_reported_in_the_studys_direction(direction: str, curve: str, name: str, sign: float) -> None:
    study = optuna.create_study(direction=direction, pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    watch = CurveWatch(study, trial, _spec(curve=curve, name=name))
    assert watch.update([0.5]) is False
    assert watch.update([0.5, 0.6, 0.7]) is False
    assert watch.update([0.5, 0.6, 0.7]) is False  # nothing new: nothing reported twice
    frozen = study.get_trials()[0]
    assert frozen.intermediate_values == {0: sign * 0.5, 1: sign * 0.6, 2: sign * 0.7}


def _multi_study(curves: list[list[float]], name: str = "val_accuracy") -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "minimize"])
    for c in curves:
        study.add_trial(optuna.trial.create_trial(values=[0.9, 1.0], user_attrs={"curves": {name: c}}))
    return study


def test_median_rule_for_several_objectives() -> None:
    study = _multi_study([[0.5, 0.7, 0.8], [0.4, 0.6, 0.9], [0.6, 0.8, 0.85]])
    opts = {"n_startup_trials": 3, "n_warmup_steps": 1}
    watch = CurveWatch(study, study.ask(), _spec(options=opts))
    assert watch.multi and watch.update([0.1]) is False  # epoch 1: warm-up
    assert watch.update([0.1, 0.71]) is False  # above the median of 0.7, 0.6, 0.8
    assert watch.update([0.1, 0.71, 0.84]) is True  # below the median of 0.8, 0.9, 0.85
    assert study.get_trials()[-1].intermediate_values == {}  # Optuna keeps none for several objectives


def test_median_rule_for_loss_and_its_start_up() -> None:
    study = _multi_study([[0.5, 0.3], [0.6, 0.4]], "val_loss")
    few = CurveWatch(study, study.ask(), _spec(curve="val_loss", options={"n_startup_trials": 3}))
    assert few.update([0.9, 0.9]) is False  # two completed trials, three needed
    watch = CurveWatch(study, study.ask(), _spec(curve="val_loss", options={"n_startup_trials": 2}))
    assert watch.update([0.9, 0.34]) is False  # loss: lower is better; 0.34 beats the median 0.35
    assert watch.update([0.9, 0.34, 0.2]) is False  # no completed trial reached epoch 3: nothing to compare
    other = CurveWatch(study, study.ask(), _spec(curve="val_loss", options={"n_startup_trials": 2}))
    assert other.update([0.9, 0.36]) is True


def test_check_reads_the_running_jobs_log_through_the_backend() -> None:
    from fake_backend import FakeBackend

    study = _multi_study([[0.5, 0.7], [0.4, 0.6], [0.6, 0.8]])
    backend = FakeBackend()
    job = backend.add_job(7)
    watch = CurveWatch(study, study.ask(), _spec(options={"n_startup_trials": 3, "n_warmup_steps": 1}))
    backend.log(job, "Epoch 1/5", "loss: 1.0 - accuracy: 0.3 - val_loss: 1.1 - val_accuracy: 0.3")
    assert watch.check(JobLog(backend, job)) is None  # epoch 1 is the warm-up
    backend.log(job, "Epoch 2/5", "loss: 0.9 - accuracy: 0.4 - val_loss: 1.0 - val_accuracy: 0.2")
    assert watch.check(JobLog(backend, job)) == (2, 0.2)
    assert backend.calls == [f"log {job}", f"log {job}"]
