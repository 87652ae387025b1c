"""A transient failure (a vanished job, a stopped server, Studio's 5xx) retries its configuration once, over real HTTP
against the fake Studio; a job's own errors and unknown reasons never do."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from test_events import events_of

from sweep.errors import ApiError, JobFailed, JobTimeout, JobVanished, StaleModelError, TransientError
from sweep.session.storage import open_storage
from sweep.studio.models import SERVER_STOPPED

from fake_studio import FakeStudio, JobScript
from runner_support import journal, load, run_sweep, sweep_env, write_study


@pytest.fixture
def studio():
    with FakeStudio(api_key="ei_secret_fake_key_0123456789") as fake:
        yield fake


def _posts(fake: FakeStudio) -> int:
    return sum(1 for method, path, _ in fake.requests if method == "POST" and "/jobs/train/" in path)


def test_what_is_transient_is_told_by_type_and_fields() -> None:
    assert JobVanished("gone", job_id=1).transient and TransientError("HTTP 503").transient
    assert JobFailed("failed: server stopped", job_id=1, transient=True).transient
    assert not JobFailed("failed: ERR: out of memory", job_id=1).transient  # the job's own, whatever it says
    assert not JobTimeout("too long", job_id=1).transient and not StaleModelError("old", job_id=1).transient
    assert not ApiError("bad layers", status_code=400).transient


def test_a_vanished_job_and_a_stopped_server_retry_the_configuration_once(studio: FakeStudio, tmp_path: Path
                                                                         ) -> None:
    """Trial 0's job vanishes: its configuration runs again as trial 1, whose job vanishes too: not tried a third
    time. Trial 2's server stops under its job: trial 3 retries it and completes. Three failures in a row, two of
    them one configuration: the sweep (max_consecutive_failures = 3) goes on."""
    studio.script(JobScript(vanish=True), JobScript(vanish=True),
                  JobScript(succeed=False, failure_cause=SERVER_STOPPED, log_lines=["Job failed: server stopped"]))
    path = write_study(tmp_path, studio.base_url, trials=3)
    log = tmp_path / "events.jsonl"
    proc = run_sweep("run", str(path), "--no-report", "--log-format", "json", "--log-file", str(log),
                     env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trials = load(tmp_path).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL] * 3 + [TrialState.COMPLETE] * 3
    assert _posts(studio) == 6
    first, again, stopped, retried = trials[:4]
    assert "no longer exists" in first.user_attrs["failure"] and "tried once more" in first.user_attrs["failure"]
    assert again.user_attrs["retry_of"] == 0 and again.params == first.params
    assert again.user_attrs["seed"] == first.user_attrs["seed"]  # the same configuration, trained the same way
    assert "not tried again: it was the retry of trial 0" in again.user_attrs["failure"]
    assert "server stopped" in stopped.user_attrs["failure"] and "retry_of" not in stopped.user_attrs
    assert retried.user_attrs["retry_of"] == 2 and retried.params == stopped.params
    assert studio.jobs[retried.user_attrs["job_id"]].seed == str(stopped.user_attrs["seed"])
    assert sum("retry_of" in t.user_attrs for t in trials) == 2
    assert "trial 1: retry of trial 0 (the same configuration and seed)" in proc.stderr
    asked = [e for e in events_of(log.read_text()) if e["event"] == "trial_asked"]  # each valid by the schema
    assert [e["origin"] for e in asked] == ["sampled", "retry", "sampled", "retry", "sampled", "sampled"]


def test_own_errors_and_unknown_reasons_are_not_retried(studio: FakeStudio, tmp_path: Path) -> None:
    """A refused request (bad layers: 400), out of memory, a failure no line explains, the job time limit: each
    fails its trial, replaced by a new sample, never retried."""
    studio.train_errors = [400]
    studio.script(JobScript(succeed=False, log_lines=["Epoch 1/5", "ERR: out of memory"]), JobScript(),
                  JobScript(succeed=False, log_lines=[]), JobScript(duration_s=5.0))
    path = write_study(tmp_path, studio.base_url, trials=3, extra_top='timeout_per_job = "1s"')
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trials = load(tmp_path).get_trials()
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert [t.number for t in failed] == [0, 1, 3, 4] and sum(t.state == TrialState.COMPLETE for t in trials) == 3
    reasons = [t.user_attrs["failure"] for t in failed]
    assert "HTTP 400" in reasons[0] and "out of memory" in reasons[1]
    assert "its log is empty" in reasons[2] and "not finished after" in reasons[3]
    assert not any("retry_of" in t.user_attrs or "tried" in t.user_attrs.get("failure", "") for t in trials)


def test_studio_5xx_before_submission_retries_once_in_the_next_run_and_never_again(studio: FakeStudio,
                                                                                    tmp_path: Path) -> None:
    """Run 1: every train POST answers 503 (no job is made): the run stops, trial 0 left for the next run. Run 2
    (a resumed run, or another worker starting): no job was made, so trial 0 fails and its configuration runs
    again as trial 1, whose job vanishes: not tried again. Run 3 finds nothing more to retry."""
    studio.train_errors = [503] * 3
    path = write_study(tmp_path, studio.base_url, trials=2)
    env = sweep_env(studio.api_key)
    first = run_sweep("run", str(path), "--no-report", env=env, cwd=tmp_path)
    assert first.returncode == 1 and "HTTP 503" in first.stderr
    (lost,) = load(tmp_path).get_trials()
    assert lost.state == TrialState.RUNNING and "job_id" not in lost.user_attrs and not studio.jobs

    studio.script(JobScript(vanish=True))
    second = run_sweep("run", str(path), "--no-report", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    trials = load(tmp_path).get_trials()
    zero, retry = trials[:2]
    assert zero.state == TrialState.FAIL and "HTTP 503" in zero.user_attrs["failure"]
    assert "queued to be tried once more" in zero.user_attrs["failure"]
    assert retry.user_attrs["retry_of"] == 0 and retry.params == zero.params and retry.state == TrialState.FAIL
    assert "not tried again" in retry.user_attrs["failure"]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 2

    third = run_sweep("run", str(path), "--trials", "3", "--no-report", env=env, cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    trials = load(tmp_path).get_trials()
    assert [t.user_attrs.get("retry_of") for t in trials].count(0) == 1
    assert sum(t.params == zero.params for t in trials) == 2  # the configuration ran twice, never a third time


def test_a_baseline_whose_job_vanished_is_trained_once_more(studio: FakeStudio, tmp_path: Path) -> None:
    """Side studies retry the same way: the baseline's retry trains the same request with the same seed."""
    studio.script(JobScript(vanish=True))
    path = write_study(tmp_path, studio.base_url, trials=1, slots=1, baseline=True)
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    storage = open_storage(journal(tmp_path))
    lost, base = optuna.load_study(study_name="fake:baseline", storage=storage).get_trials()
    assert lost.state == TrialState.FAIL and base.state == TrialState.COMPLETE and base.user_attrs["retry_of"] == 0
    assert {k: base.user_attrs[k] for k in ("request", "seed", "of", "repeat")} == {
        k: lost.user_attrs[k] for k in ("request", "seed", "of", "repeat")}
    assert "baseline: tried once more" in proc.stderr and "baseline: complete" in proc.stderr


def test_a_grids_last_point_is_retried_though_the_grid_is_exhausted(studio: FakeStudio, tmp_path: Path) -> None:
    studio.script(JobScript(), JobScript(vanish=True))
    space = "\n[space]\nlearning_rate = { choices = [0.001, 0.01] }\nbatch_size = 32\ntraining_cycles = 5\n"
    path = write_study(tmp_path, studio.base_url, trials=2, space=space, sampler="grid")
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trials = load(tmp_path).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    assert trials[2].user_attrs["retry_of"] == 1 and trials[2].params == trials[1].params
