"""SIGTERM to a real `sweep run` mid-job, as a batch scheduler sends it: --on-stop cancel (the default) cancels the
job at the server and records its trial; --on-stop leave leaves the job running and its trial RUNNING, and the
next run re-attaches to it instead of training it again."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from sweep.commands.outcome import outcome_text, summary_from
from sweep.session.storage import open_storage

from fake_studio import FakeStudio, JobScript
from runner_support import journal, load, run_sweep, sweep_cmd, sweep_env, write_study

KEY = "ei_secret_on_stop_key_1357924680"


@pytest.fixture
def studio():
    with FakeStudio(api_key=KEY) as fake:
        yield fake


def _wait_for_job(folder: Path, timeout: float = 30.0) -> tuple[int, int]:
    """(trial number, job id) of the first RUNNING trial with a job, once there is one."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            running = [t for t in load(folder).get_trials()
                       if t.state == TrialState.RUNNING and "job_id" in t.user_attrs]
        except (KeyError, OSError, ValueError):  # no study (or journal) yet
            running = []
        if running:
            return running[0].number, int(running[0].user_attrs["job_id"])
        time.sleep(0.05)
    raise AssertionError("no trial got a job in time")


def _cancelled(fake: FakeStudio, job_id: int) -> bool:
    return any(m == "POST" and p.endswith(f"/jobs/{job_id}/cancel") for m, p, _ in fake.requests)


def _posts(fake: FakeStudio) -> int:
    return sum(1 for m, p, _ in fake.requests if m == "POST" and "/jobs/train/" in p)


def _start(path: Path, folder: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(sweep_cmd("run", str(path), "--no-report", *args), env=sweep_env(KEY), cwd=folder,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigterm_with_cancel_cancels_the_job_and_records_the_trial(studio: FakeStudio, tmp_path: Path) -> None:
    studio.script(JobScript(duration_s=30.0))
    path = write_study(tmp_path, studio.base_url, trials=2)
    proc = _start(path, tmp_path)
    number, job_id = _wait_for_job(tmp_path)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)  # a scheduler's second SIGTERM does not break into the stop under way
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert _cancelled(studio, job_id) and studio.jobs[job_id].cancelled is not None
    (trial,) = load(tmp_path).get_trials()
    assert trial.number == number and trial.state == TrialState.FAIL
    assert trial.user_attrs["failure"] == f"interrupted; job {job_id} cancelled"
    assert "cancelling running jobs" in err and "Traceback" not in err and KEY not in out + err
    # which signal stopped it, not "the user"
    assert "interrupted by SIGTERM: cancelling running jobs and recording their trials..." in err
    assert err.endswith("sweep: error: interrupted by SIGTERM\n") and "by the user" not in err


def test_sigterm_with_leave_leaves_the_job_and_the_next_run_reattaches(studio: FakeStudio, tmp_path: Path) -> None:
    studio.script(JobScript(duration_s=4.0), JobScript(), JobScript())
    path = write_study(tmp_path, studio.base_url, trials=2)
    proc = _start(path, tmp_path, "--on-stop", "leave", "--log-format", "json")
    number, job_id = _wait_for_job(tmp_path)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert not _cancelled(studio, job_id) and studio.jobs[job_id].cancelled is None
    (trial,) = load(tmp_path).get_trials()
    assert trial.state == TrialState.RUNNING and trial.user_attrs["job_id"] == job_id
    assert trial.user_attrs["worker"]["left"]  # gone on purpose: any worker, on any host, re-attaches it at once
    assert f"trial {number}: job {job_id} left running" in err
    events = [json.loads(line) for line in out.splitlines()]
    left = [e for e in events if e["event"] == "trial_left"]
    assert [(e["trial"], e["job_id"]) for e in left] == [(number, job_id)]
    assert [e["event"] for e in events][-2:] == ["error", "study_done"]
    assert events[-1]["exit_code"] == 130 and events[-1]["summary"]["left"] == 1
    assert time.monotonic() < studio.jobs[job_id].created + 4.0  # the run stopped while the job still ran

    posts = _posts(studio)
    again = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"trial {number}: re-attached to job {job_id}" in again.stderr
    trials = load(tmp_path).get_trials()
    assert trials[number].state == TrialState.COMPLETE and trials[number].user_attrs["job_id"] == job_id
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert _posts(studio) == posts + 1  # only the other trial was submitted; the left job was not trained again


def test_a_left_baseline_job_is_reattached_and_the_summary_says_so(studio: FakeStudio, tmp_path: Path) -> None:
    studio.script(JobScript(duration_s=4.0), JobScript(), JobScript())
    path = write_study(tmp_path, studio.base_url, trials=1, baseline=True)
    proc = _start(path, tmp_path, "--on-stop", "leave", "--log-format", "json")
    side = journal(tmp_path)
    end = time.monotonic() + 30
    while not [t for t in _trials(side, "fake:baseline") if "job_id" in t.user_attrs]:
        assert time.monotonic() < end, "the baseline got no job in time"
        time.sleep(0.05)
    (baseline,) = _trials(side, "fake:baseline")
    job_id = baseline.user_attrs["job_id"]
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert f"baseline: job {job_id} left running" in err
    stopped = json.loads(out.splitlines()[-1])
    assert stopped["event"] == "study_done" and stopped["summary"]["baseline"]["left"] == 1
    assert outcome_text(130, summary_from(stopped["summary"])) == (
        "interrupted: 0 completed, 0 failed, 0 reused, 0 re-attached in this run; the baseline: 1 left running; "
        "0 complete in the study; 1 job(s) left running, their trials RUNNING for the next run to re-attach")

    again = run_sweep("run", str(path), "--no-report", "--log-format", "json", env=sweep_env(KEY), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"baseline: re-attached to job {job_id}" in again.stderr
    assert ("done: 1 completed, 0 failed, 0 reused, 0 re-attached in this run; the baseline: 1 re-attached, "
            "1 completed; 1 complete in the study") in again.stderr
    done = json.loads(again.stdout.splitlines()[-1])
    assert done["event"] == "study_done" and done["summary"]["reattached"] == 0
    assert done["summary"]["baseline"] | {"stopped_reason": ""} == {
        "completed": 1, "failed": 0, "reused": 0, "reattached": 1, "pruned": 0, "left": 0, "stopped_reason": "",
        "baseline": None}
    (baseline,) = _trials(side, "fake:baseline")
    assert baseline.state == TrialState.COMPLETE and baseline.user_attrs["job_id"] == job_id


def _trials(storage: str, name: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name=name, storage=open_storage(storage)).get_trials()
    except (KeyError, OSError, ValueError):  # no study (or journal) yet
        return []
