"""The compute a study spent is what the project's quota counts: every job it started (train, features,
profiling; the baseline's and the confirmation repeats' too), each once; ``compute_budget`` counts all of it,
``sweep confirm`` included, and says so when it is spent. Over real HTTP: the fake Studio, and the local
studio's own quota."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from optuna.trial import TrialState

from sweep.session.compute import totals
from sweep.session.side import CONFIRM, side_study

from fake_studio import FakeStudio, JobScript
from runner_support import load, run_sweep, sweep_env, write_study

KEY = "ei_secret_compute_key_0123456789"
WHOLE = """
[space]
learning_rate = 0.005
training_cycles = 5

[space.dsp.MFE]
num_filters = { choices = [20, 32] }

[[space.layers]]
type = "reshape"

[[space.layers]]
type = "conv1d"
neurons = 8
"""
NETWORK = "\n[space]\nbatch_size = { choices = [16, 32, 64] }\nlearning_rate = 0.01\ntraining_cycles = 5\n"


@pytest.fixture
def studio() -> Iterator[FakeStudio]:
    with FakeStudio(api_key=KEY, default_script=JobScript(duration_s=0.2, profiling_delay_s=0.15)) as fake:
        fake.features_duration_s = 0.1
        yield fake


def _quota_counts(studio: FakeStudio) -> float:
    """What the project's quota counts: every job's compute, of any kind."""
    return sum(round(job.finished_at() - job.created, 3) for job in studio.jobs.values())


def test_every_job_the_sweep_started_counts_once(studio: FakeStudio, tmp_path: Path) -> None:
    """A whole-impulse study: each trial's features (its slot's set-up makes none: the trial sets its own), train
    and profiling jobs, the baseline, then confirmation repeats: the study's total is the quota's, by kind and by
    purpose, and `sweep status` says so (the report's summary says the same: test_runner_fake)."""
    path = write_study(tmp_path, studio.base_url, trials=2, slots=1, space=WHOLE, sampler="grid", baseline=True)
    env = sweep_env(KEY, SWEEP_POLL_INITIAL_S="0.02")
    run = run_sweep("run", str(path), "--no-report", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    confirm = run_sweep("confirm", str(path), "--top", "1", "--repeats", "1", "--no-report", env=env, cwd=tmp_path)
    assert confirm.returncode == 0, confirm.stderr
    kinds = {job.kind for job in studio.jobs.values()}
    assert kinds == {"train", "profile", "features"}
    study = load(tmp_path)
    spent = totals(study)
    assert spent.unknown == 0 and spent.jobs == len(studio.jobs)
    assert spent.total_s == pytest.approx(_quota_counts(studio), abs=0.01)
    assert set(spent.by_kind) == {"train", "features", "profiling"}
    assert set(spent.by_purpose) == {"study", "baseline", CONFIRM}
    status = run_sweep("status", str(path), env=env, cwd=tmp_path)
    shown = " ".join(status.stdout.split())  # the note wraps at 100 columns
    assert f"job compute {spent.text()} (reused trials cost none)" in shown, status.stdout
    assert "features" in shown and "profiling" in shown and "baseline" in shown and "confirm" in shown


def test_compute_budget_counts_the_baseline_and_stops_confirm(studio: FakeStudio, tmp_path: Path) -> None:
    """Jobs of 0.5 s and a budget of 1.6 s: the baseline and two trials spend 1.5 s, so the third trial and every
    confirmation repeat would pass it; neither starts, and confirm says why."""
    studio.default_script = JobScript(duration_s=0.5)
    path = write_study(tmp_path, studio.base_url, trials=3, space=NETWORK, baseline=True,
                       extra_top='compute_budget = "1.6s"')
    env = sweep_env(KEY, SWEEP_POLL_INITIAL_S="0.02")
    run = run_sweep("run", str(path), "--no-report", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "stopping: compute budget: 1.5 s of 1.6 s used, and a job takes about 0.5 s" in run.stderr, run.stderr
    study = load(tmp_path)
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 2
    jobs = len(studio.jobs)
    confirm = run_sweep("confirm", str(path), "--top", "1", "--repeats", "2", "--no-report", env=env, cwd=tmp_path)
    assert confirm.returncode == 0, confirm.stderr
    assert len(studio.jobs) == jobs  # no repeat was trained
    assert ("confirm stopped: compute budget: 1.5 s of 1.6 s used, and a job takes about 0.5 s; 4 of 4 training(s) "
            "not run, queued for the next `sweep confirm` (repeats count against compute_budget, with the study's "
            "trials, baseline, feature and profiling jobs)") in " ".join(confirm.stderr.split()), confirm.stderr
    repeats = side_study(study, CONFIRM)
    assert repeats is not None and all(t.state == TrialState.WAITING for t in repeats.get_trials())


def test_a_profiling_job_no_trial_waited_for_is_counted_when_it_has_ended(studio: FakeStudio, tmp_path: Path) -> None:
    """No objective needs device figures, so no trial waits for the profiling job its training started; the
    quota counts it all the same: charged as followed, its compute read once it has ended (at the end of the run,
    or by the next run)."""
    import time

    studio.default_script = JobScript(duration_s=0.1, profiling_delay_s=1.0)
    path = write_study(tmp_path, studio.base_url, trials=2, space=NETWORK)
    env = sweep_env(KEY, SWEEP_POLL_INITIAL_S="0.02")
    run = run_sweep("run", str(path), "--no-report", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    spent = totals(load(tmp_path))
    assert len(studio.jobs) == 4 and spent.jobs + spent.unknown == 4 and spent.unknown >= 1  # the last one runs on
    time.sleep(1.0)
    again = run_sweep("run", str(path), "--no-report", env=env, cwd=tmp_path)  # nothing left to train
    assert again.returncode == 0, again.stderr
    spent = totals(load(tmp_path))
    assert spent.unknown == 0 and spent.by_kind["profiling"] == pytest.approx(2 * 1.1, abs=0.01)
    assert spent.total_s == pytest.approx(_quota_counts(studio), abs=0.01)


LOCAL_STUDY = """
name = "quota"
trials = 1
baseline = true

[target]
kind = "local"
project = "digits"

[[objectives]]
metric = "int8.accuracy"
direction = "maximize"

[space]
learning_rate = 0.01
batch_size = 32
training_cycles = 2

[[space.layers]]
type = "dense"
neurons = { choices = [8] }
"""


def test_the_local_studios_quota_counts_what_the_study_counts(tmp_path: Path) -> None:
    """Real training on the local studio, whose quota (``computeTime.timeUsedMs``) sums every job of the project:
    the slot's features, the baseline and a trial, each with its own compute, and the study's total is the same."""
    import httpx

    from sweep.local.embedded import EmbeddedStudio

    path = tmp_path / "quota.toml"
    path.write_text(LOCAL_STUDY)
    env = {k: v for k, v in sweep_env(KEY).items() if k != "EI_API_KEY"}
    env["SWEEP_DATA_DIR"] = str(tmp_path / "data")
    with EmbeddedStudio(tmp_path / "data") as server, httpx.Client(
            base_url=server.base_url, timeout=30.0, headers={"x-api-key": server.api_key.get_secret_value()}) as http:
        def used_s() -> float:
            return float(http.get("/api/1").json()["computeTime"]["timeUsedMs"]) / 1000

        before = used_s()
        run = run_sweep("run", str(path), "--no-report", env=env, cwd=tmp_path, timeout=300)
        assert run.returncode == 0, run.stderr
        spent = totals(load(tmp_path, "quota"))
        assert spent.unknown == 0 and set(spent.by_purpose) == {"study", "setup", "baseline"}
        assert spent.total_s == pytest.approx(used_s() - before, abs=0.002 * spent.jobs)
