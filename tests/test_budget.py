"""Budget: when the study's compute cap or the project's quota leaves no room for another job."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import TrialState

from sweep.run.budget import Budget
from sweep.session.records import compute_used_s

from fake_backend import FakeBackend

_numbers = iter(range(10**6))  # a study numbers its trials; create_trial leaves every one at 0


def _trial(compute_s: float, state: TrialState = TrialState.COMPLETE, **attrs: Any) -> optuna.trial.FrozenTrial:
    trial = optuna.trial.create_trial(
        state=state, value=0.5 if state == TrialState.COMPLETE else None,
        user_attrs={"metrics": {"compute_time_s": compute_s}, **attrs})
    trial.number = next(_numbers)
    return trial


def test_trained_trials_cost_compute_failed_ones_too() -> None:
    failed_job = optuna.trial.create_trial(state=TrialState.FAIL, user_attrs={"compute_time_s": 45.0})
    never_ran = optuna.trial.create_trial(state=TrialState.FAIL, user_attrs={"failure": "not run"})
    trials = [_trial(60), _trial(30), _trial(99, duplicate_of=0), failed_job, never_ran]
    assert compute_used_s(trials) == [60.0, 30.0, 45.0]


def test_nothing_is_refused_before_a_job_has_finished() -> None:
    quota = FakeBackend(quota_left_ms=0)
    assert Budget(quota, cap_s=1.0).exhausted([], running=3) is None
    assert quota.calls == []


def test_the_cap_counts_running_jobs_and_the_next_one() -> None:
    budget = Budget(FakeBackend(quota_left_ms=10**9), cap_s=600.0)
    done = [_trial(120), _trial(120)]  # 4 min used, a job takes 2 min
    assert budget.exhausted(done, running=0) is None  # 4 + 2 <= 10 min
    assert budget.exhausted(done, running=2) is None  # 4 + 3 x 2 = 10: just fits
    assert budget.exhausted(done, running=3) == (
        "compute budget: 4.0 min of 10.0 min used, and a job takes about 2.0 min")  # 4 + 4 x 2 > 10


def test_a_finished_trial_is_counted_once_however_often_it_is_seen() -> None:
    budget = Budget(FakeBackend(quota_left_ms=10**9), cap_s=600.0)
    first, running = _trial(120), _trial(0, state=TrialState.RUNNING, metrics={})
    for _ in range(3):
        assert budget.exhausted([first, running], running=1) is None  # 2 + 2 x 2 <= 10, however often asked
    ended = _trial(120)
    ended.number = running.number  # the running trial, read again once it has ended: now it counts
    assert budget.exhausted([first, ended], running=2) is None  # 4 + 3 x 2 = 10: just fits
    assert budget.exhausted([first, ended, _trial(120)], running=2) == (
        "compute budget: 6.0 min of 10.0 min used, and a job takes about 2.0 min")  # 6 + 3 x 2 > 10
