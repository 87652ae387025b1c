"""Budget and compute: every job the study started, counted once, against its compute cap and the project's quota."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from sweep.run.budget import Budget
from sweep.session.compute import Account, charge, settle, totals
from sweep.session.side import BASELINE, CONFIRM, open_side

from fake_backend import FakeBackend


def _study() -> optuna.Study:
    return optuna.create_study(study_name="s", storage=optuna.storages.InMemoryStorage(), direction="maximize")


def _trial(study: optuna.Study, job_id: int | None, compute_s: float | None,
           state: TrialState = TrialState.COMPLETE, **attrs: Any) -> None:
    metrics = {"compute_time_s": compute_s} if compute_s is not None and state == TrialState.COMPLETE else {}
    own = {"compute_time_s": compute_s} if compute_s is not None and state != TrialState.COMPLETE else {}
    study.add_trial(optuna.trial.create_trial(
        state=state, value=0.5 if state == TrialState.COMPLETE else None,
        user_attrs={**({"job_id": job_id} if job_id is not None else {}), "metrics": metrics, **own, **attrs}))


def test_trained_trials_cost_compute_failed_ones_too_reused_ones_nothing() -> None:
    study = _study()
    _trial(study, 1, 60)
    _trial(study, 2, 30)
    _trial(study, None, 99, duplicate_of=0)
    _trial(study, 3, 45, state=TrialState.FAIL)
    _trial(study, None, None, state=TrialState.FAIL, failure="not run")
    spent = totals(study)
    assert spent.total_s == 135 and spent.jobs == 3 and spent.train_s == [60, 30, 45]


def test_each_job_counts_once_however_often_it_is_charged_or_recorded() -> None:
    """A job is its id: a trial's record and its ledger entry, a second charge (a re-attached trial, a second
    worker), a profiling job seen twice, all count it once; a known figure is never undone by a later 'followed'."""
    study = _study()
    _trial(study, 7, 10.0)
    for _ in range(3):
        charge(study, 7, 10.0, "train", "study")
        charge(study, 8, 2.5, "profiling", "study")
    charge(study, 8, None, "profiling", "study")  # followed again after it ended: still 2.5
    charge(study, 9, 4.0, "features", "setup")
    spent = totals(study)
    assert spent.total_s == 16.5 and spent.jobs == 3
    assert spent.by_kind == {"train": 10.0, "profiling": 2.5, "features": 4.0}
    assert spent.by_purpose == {"study": 12.5, "setup": 4.0}


def test_side_studies_and_other_commands_count_in_the_study() -> None:
    """The baseline's and the repeats' own jobs (trials of the side studies), and jobs any command charged."""
    study = _study()
    _trial(study, 1, 10.0)
    _trial(open_side(study, BASELINE), 2, 11.0)
    confirm = open_side(study, CONFIRM)
    _trial(confirm, 3, 12.0)
    Account(study, CONFIRM).charge(3, 12.0, "train")  # its follower's charge: the same job
    Account(study, "test").charge(4, 3.0, "features")
    spent = totals(study)
    assert spent.total_s == 36.0
    assert spent.by_purpose == {"study": 10.0, BASELINE: 11.0, CONFIRM: 12.0, "test": 3.0}
    assert spent.text() == ("36.0 s over 4 job(s): train 33.0 s, features 3.0 s; of it baseline 11.0 s, "
                            "confirm 12.0 s, test 3.0 s")


def test_a_job_left_running_is_settled_by_a_later_run() -> None:
    backend = FakeBackend()
    study = _study()
    job_id = backend.add_job(7)
    charge(study, job_id, None, "features", "study")  # followed, and its run died
    charge(study, 999, None, "train", "study")  # a job the server has lost
    assert settle(study, backend) == 0 and totals(study).unknown == 1
    backend.finish(job_id, compute_time=5.0)
    assert settle(study, backend) == 1
    spent = totals(study)
    assert spent.by_kind == {"features": 5.0} and spent.unknown == 0


def _budget(study: optuna.Study, cap_s: float | None, quota_left_ms: int | None = 10**9) -> Budget:
    return Budget(FakeBackend(quota_left_ms=quota_left_ms), cap_s, lambda: totals(study))


def test_nothing_is_refused_before_a_job_has_finished() -> None:
    quota = FakeBackend(quota_left_ms=0)
    study = _study()
    charge(study, 1, 30.0, "features", "setup")  # set-up costs, but says nothing of what a training costs
    assert Budget(quota, 60.0, lambda: totals(study)).exhausted(running=3) is None
    assert quota.calls == []


def test_the_cap_counts_running_jobs_and_the_next_one() -> None:
    study = _study()
    _trial(study, 1, 120)
    _trial(study, 2, 120)  # 4 min used, a job takes 2 min
    budget = _budget(study, 600.0)
    assert budget.exhausted(running=0) is None  # 4 + 2 <= 10 min
    assert budget.exhausted(running=2) is None  # 4 + 3 x 2 = 10: just fits
    assert budget.exhausted(running=3) == (
        "compute budget: 4.0 min of 10.0 min used, and a job takes about 2.0 min")  # 4 + 4 x 2 > 10


def test_feature_and_profiling_jobs_count_and_make_a_training_dearer() -> None:
    """Two trainings of 2 min, each with 1 min of features and profiling: 6 min used, a training costs 3."""
    study = _study()
    for job in (1, 2):
        _trial(study, job, 120)
        charge(study, 10 + job, 40.0, "features", "study")
        charge(study, 20 + job, 20.0, "profiling", "study")
    charge(study, 30, 600.0, "features", "setup")  # once, before the first training: not in its price
    spent = totals(study)
    assert spent.total_s == pytest.approx(960.0) and spent.per_training_s == pytest.approx(180.0)
    assert _budget(study, 1200.0).exhausted(running=1) == (
        "compute budget: 16.0 min of 20.0 min used, and a job takes about 3.0 min")  # 16 + 2 x 3 > 20
    assert _budget(study, 1200.0).exhausted(running=0) is None  # 16 + 3 <= 20


def test_the_quota_left_stops_a_training_that_would_not_fit() -> None:
    study = _study()
    _trial(study, 1, 120)
    assert _budget(study, None, quota_left_ms=60_000).exhausted(running=0) == (
        "compute quota: 60.0 s left in this period, and a job takes about 2.0 min")
    assert _budget(study, None, quota_left_ms=None).exhausted(running=0) is None  # unreadable: no reason to stop


def test_a_spent_budget_refuses_even_before_a_training_is_known() -> None:
    """Set-up features alone used the budget up: no training starts, and no other kind of job either."""
    from sweep.run.budget import spent_reason

    study = _study()
    charge(study, 1, 90.0, "features", "setup")
    assert _budget(study, 60.0).exhausted(running=0) == "compute budget: 1.5 min of 60.0 s used"
    assert spent_reason(totals(study), 60.0) == "compute budget: 1.5 min of 60.0 s used"
    assert spent_reason(totals(study), 120.0) is None and spent_reason(totals(study), None) is None
