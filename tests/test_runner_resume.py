"""Kill -9 and Ctrl-C of a real `sweep run` process mid-job, then resume: nothing lost or doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from sweep.study.load import load_study
from sweep.study.space import distributions

from fake_studio import FakeStudio, JobScript
from runner_support import load, run_sweep, sweep_cmd, sweep_env, write_study

KEY = "ei_secret_resume_key_9876543210"


@pytest.fixture
def studio():
    with FakeStudio(api_key=KEY) as fake:
        yield fake


def _wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _trial_with_job(folder: Path):  # type: ignore[no-untyped-def]
    try:
        trials = load(folder).get_trials()
    except (KeyError, OSError, ValueError):  # the study (or its journal) may not exist yet
        return None
    running = [t for t in trials if t.state == TrialState.RUNNING and "job_id" in t.user_attrs]
    return running[0] if running else None


def _train_posts(fake: FakeStudio) -> int:
    return sum(1 for m, p, _ in fake.requests if m == "POST" and "/jobs/train/" in p)


def _kill_mid_job(studio: FakeStudio, tmp_path: Path, first: JobScript, trials: int = 2) -> tuple[Path, int, int]:
    """Start a sweep whose first job follows ``first``, kill -9 it mid-job: (study file, trial, job id)."""
    studio.script(first, JobScript(), JobScript())
    path = write_study(tmp_path, studio.base_url, trials=trials)
    proc = subprocess.Popen(sweep_cmd("run", str(path), "--no-report"), env=sweep_env(KEY), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: _trial_with_job(tmp_path) is not None)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    orphan = _trial_with_job(tmp_path)
    assert orphan is not None
    return path, orphan.number, int(orphan.user_attrs["job_id"])


def test_kill_9_then_resume_reattaches_to_the_same_job(studio: FakeStudio, tmp_path: Path) -> None:
    path, number, job_id = _kill_mid_job(studio, tmp_path, JobScript(duration_s=4.0), trials=3)
    orphan = load(tmp_path).get_trials()[number]
    assert orphan.state == TrialState.RUNNING and orphan.user_attrs["job_id"] == job_id
    posts_before = _train_posts(studio)

    again = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"re-attached to job {job_id}" in again.stderr
    trials = load(tmp_path).get_trials()
    resumed = trials[orphan.number]
    assert resumed.state == TrialState.COMPLETE and resumed.user_attrs["job_id"] == job_id
    assert resumed.values == [resumed.user_attrs["metrics"]["int8.accuracy"]]
    # the killed trial's job was not submitted again; only the two remaining trials were
    assert _train_posts(studio) == posts_before + 2
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3
    # the re-attached job counts once in the study's compute, as in the project's quota
    from sweep.session.compute import totals

    spent = totals(load(tmp_path))
    assert spent.jobs == len(studio.jobs) == 3 and spent.unknown == 0
    assert spent.total_s == pytest.approx(sum(j.finished_at() - j.created for j in studio.jobs.values()), abs=0.01)


def test_a_reattached_job_that_failed_says_why_not_its_last_line(studio: FakeStudio, tmp_path: Path) -> None:
    lines = ["Epoch 1/5", "loss: 0.1 - accuracy: 0.9", "Traceback (most recent call last):",
             '  File "train.py", line 9, in <module>', "RecursionError: maximum recursion depth exceeded",
             "loss: 0.0839 - accuracy: 0.9784 - val_loss: 0.0912 - val_accuracy: 0.9722"]
    path, number, job_id = _kill_mid_job(studio, tmp_path, JobScript(duration_s=3.0, succeed=False, log_lines=lines))
    again = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    failed = load(tmp_path).get_trials()[number]
    assert failed.state == TrialState.FAIL
    assert failed.user_attrs["failure"] == f"job {job_id}: failed: RecursionError: maximum recursion depth exceeded"
    assert failed.user_attrs["log_tail"][-1].startswith("loss: 0.0839")


def test_a_reattached_job_the_server_no_longer_knows_fails_plainly(studio: FakeStudio, tmp_path: Path) -> None:
    path, number, job_id = _kill_mid_job(studio, tmp_path, JobScript(duration_s=30.0))
    del studio.jobs[job_id]  # the server lost it (data reset, deleted)
    again = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    trials = load(tmp_path).get_trials()
    failed = trials[number]
    assert failed.state == TrialState.FAIL
    assert failed.user_attrs["failure"].startswith(
        f"job {job_id}: no longer exists on the server (it was deleted, or the server lost its jobs); ")
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 2  # replaced, and the sweep went on


def test_trial_without_job_id_is_failed_and_replaced(studio: FakeStudio, tmp_path: Path) -> None:
    path = write_study(tmp_path, studio.base_url, trials=2)
    # a worker that died between ask and submit: a RUNNING trial with no job id and a dead pid
    first = run_sweep("run", str(path), "--no-report", "--trials", "1", env=sweep_env(KEY), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    study = load(tmp_path)
    trial = study.ask(distributions(load_study(path).space))
    trial.set_user_attr("worker", {"host": os.uname().nodename, "pid": 2**22 + 7, "learn_id": 7,
                                   "heartbeat": "2026-01-01T00:00:00+00:00"})
    again = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    trials = load(tmp_path).get_trials()
    assert trials[trial.number].state == TrialState.FAIL
    assert "before a job was submitted" in trials[trial.number].user_attrs["failure"]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 2
    (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == trial.number]  # its configuration, once more
    assert retry.params == trial.params and retry.state == TrialState.COMPLETE


def test_ctrl_c_cancels_the_job_records_the_trial_and_exits_non_zero(studio: FakeStudio, tmp_path: Path) -> None:
    studio.script(JobScript(duration_s=30.0))
    path = write_study(tmp_path, studio.base_url, trials=3)
    proc = subprocess.Popen(sweep_cmd("run", str(path), "--no-report"), env=sweep_env(KEY), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: _trial_with_job(tmp_path) is not None)
    job_id = _trial_with_job(tmp_path).user_attrs["job_id"]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert any(m == "POST" and p.endswith(f"/jobs/{job_id}/cancel") for m, p, _ in studio.requests)
    trials = load(tmp_path).get_trials()
    assert len(trials) == 1 and trials[0].state == TrialState.FAIL
    assert f"job {job_id} cancelled" in trials[0].user_attrs["failure"]
    assert KEY not in out + err
    assert err.endswith("sweep: error: interrupted by Ctrl-C (SIGINT)\n")


def test_api_key_never_written_anywhere(studio: FakeStudio, tmp_path: Path) -> None:
    studio.script(JobScript(), JobScript(succeed=False, log_lines=["failing on purpose"]), JobScript())
    path = write_study(tmp_path, studio.base_url, trials=2)
    proc = run_sweep("-vv", "run", str(path), env=sweep_env(KEY), cwd=tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stderr
    report = run_sweep("report", str(path), env=sweep_env(KEY), cwd=tmp_path, timeout=180)
    assert report.returncode == 0, report.stderr
    assert KEY not in proc.stdout + proc.stderr + report.stdout + report.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".journal" for p in written) and any(p.name == "index.html" for p in written)
    for p in written:
        assert KEY.encode() not in p.read_bytes(), p


def test_the_same_seed_proposes_the_same_only_in_a_run_that_was_never_interrupted(studio: FakeStudio,
                                                                                  tmp_path: Path) -> None:
    proposed = {}
    for name, runs in (("once", [4]), ("again", [4]), ("resumed", [2, 4])):
        folder = tmp_path / name
        folder.mkdir()
        path = write_study(folder, studio.base_url, trials=4)
        for trials in runs:
            proc = run_sweep("run", str(path), "--no-report", "--trials", str(trials), env=sweep_env(KEY), cwd=folder)
            assert proc.returncode == 0, proc.stderr
        proposed[name] = [t.params for t in load(folder).get_trials()]
    assert proposed["once"] == proposed["again"]
    assert proposed["resumed"][:2] == proposed["once"][:2] and proposed["resumed"][2] != proposed["once"][2]
    # ... which is what the study file's reference says of `seed`
    doc = (Path(__file__).parent.parent / "docs" / "study-file.md").read_text()
    row = next(line for line in doc.splitlines() if line.startswith("| `seed` |"))
    assert "never interrupted" in row and "resumed after an interrupt proposes other configurations" in row
