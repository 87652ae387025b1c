"""`sweep run A.toml B.toml ...` against the fake Studio: one after another or side by side, a bad study failing
alone, the worst exit code, one closing line per study, --compare, refused flags, and SIGTERM mid-batch."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from fake_studio import FakeStudio, JobScript
from runner_support import load, run_sweep, sweep_cmd, sweep_env, write_study

KEY = "ei_secret_batch_key_2468013579"


@pytest.fixture
def studio():
    with FakeStudio(api_key=KEY, learn_block_ids=[7, 8]) as fake:
        yield fake


def _jobs_of(fake: FakeStudio, learn_id: int) -> list:  # type: ignore[type-arg]
    return sorted((j for j in fake.jobs.values() if j.kind == "train" and j.learn_id == learn_id),
                  key=lambda j: j.created)


def _line(stderr: str, file: Path) -> str:
    """The batch's closing line for ``file``."""
    (line,) = [row for row in stderr.splitlines() if f"({file}): exit " in row]
    return line


def test_studies_run_in_turn_a_bad_one_fails_alone_and_the_worst_code_wins(studio: FakeStudio, tmp_path: Path
                                                                            ) -> None:
    studio.default_script = JobScript(duration_s=0.3)
    a = write_study(tmp_path, studio.base_url, name="a", trials=2, learn_blocks=(7,))
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\ntrials = 0\n[target]\nkind = "local"\n')
    b = write_study(tmp_path, studio.base_url, name="b", trials=3, learn_blocks=(8,))
    env = sweep_env(KEY, reports=str(tmp_path / "reports"))
    proc = run_sweep("run", str(a), str(bad), str(b), "--no-report", "--compare", "--log-format", "json", env=env,
                     cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr  # the worst of 0, 2 and 0
    assert [t.state for t in load(tmp_path, "a").get_trials()] == [TrialState.COMPLETE] * 2
    assert [t.state for t in load(tmp_path, "b").get_trials()] == [TrialState.COMPLETE] * 3
    # one after another: b's first job was created only once a's last had finished
    assert _jobs_of(studio, 8)[0].created >= _jobs_of(studio, 7)[-1].finished_at()
    assert re.fullmatch(rf"  a \({a}\): exit 0: done: 2 completed, 0 failed, 0 reused, 0 re-attached in this run; "
                        r"2 complete in the study", _line(proc.stderr, a))
    assert _line(proc.stderr, bad).startswith(f"  (not loaded) ({bad}): exit 2: error: {bad}: trials")
    assert "exit 0: done: 3 completed" in _line(proc.stderr, b)
    assert "batch: 3 studies, exit code 2" in proc.stderr
    compared = tmp_path / "reports" / "compare-a-b" / "index.html"
    assert compared.is_file() and f"  compare ({compared}): exit 0: 2 studies compared" in proc.stderr
    assert not (tmp_path / "reports" / "a").exists()  # --no-report applies to every study

    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(e["event"], e["study"]) for e in events if e["event"] in ("run_started", "error", "study_done")] == [
        ("run_started", "a"), ("study_done", "a"), ("error", None), ("run_started", "b"), ("study_done", "b")]
    assert events[-1]["event"] == "batch_done" and events[-1]["exit_code"] == 2
    assert [(s["study"], s["exit_code"]) for s in events[-1]["studies"]] == [("a", 0), (None, 2), ("b", 0)]
    assert KEY not in proc.stdout + proc.stderr


def test_parallel_runs_the_studies_side_by_side(studio: FakeStudio, tmp_path: Path) -> None:
    studio.default_script = JobScript(duration_s=1.0)
    a = write_study(tmp_path, studio.base_url, name="a", trials=2, learn_blocks=(7,))
    b = write_study(tmp_path, studio.base_url, name="b", trials=2, learn_blocks=(8,))
    log = tmp_path / "events.jsonl"
    started = time.monotonic()
    proc = run_sweep("run", str(a), str(b), "--parallel", "--no-report", "--log-format", "json", "--log-file",
                     str(log), env=sweep_env(KEY), cwd=tmp_path)
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    for name in ("a", "b"):
        assert [t.state for t in load(tmp_path, name).get_trials()] == [TrialState.COMPLETE] * 2
    jobs_a, jobs_b = _jobs_of(studio, 7), _jobs_of(studio, 8)
    # side by side: each study's first job started before the other's first had ended
    assert jobs_b[0].created < jobs_a[0].finished_at() and jobs_a[0].created < jobs_b[0].finished_at()
    assert took < 4 * 1.0 + 15  # not the sum of both studies' jobs plus their start-ups, in turn
    lines = proc.stderr.splitlines()
    assert any(line.startswith("[a] trial 0: job ") for line in lines)
    assert any(line.startswith("[b] trial 1: complete") for line in lines)
    assert "exit 0: done: 2 completed" in _line(proc.stderr, a) and "exit 0: done: 2 completed" in _line(proc.stderr, b)
    events = [json.loads(line) for line in log.read_text().splitlines()]
    done = {e["study"]: e for e in events if e["event"] == "study_done"}
    assert set(done) == {"a", "b"} and all(e["exit_code"] == 0 for e in done.values())
    assert events[-1]["event"] == "batch_done" and proc.stdout == ""


@pytest.mark.parametrize(("flag", "value"), [("--slots", "1"), ("--learn-blocks", "7"), ("--enqueue", "mine.json")])
def test_a_flag_for_one_study_is_refused_for_several_and_nothing_is_written(
        studio: FakeStudio, tmp_path: Path, flag: str, value: str) -> None:
    a = write_study(tmp_path, studio.base_url, name="a", trials=1)
    b = write_study(tmp_path, studio.base_url, name="b", trials=1)
    (tmp_path / "mine.json").write_text("[]")
    before = sorted(tmp_path.rglob("*"))
    proc = run_sweep("run", str(a), str(b), flag, value, env=sweep_env(KEY), cwd=tmp_path)
    assert proc.returncode == 2
    assert f"sweep: error: {flag}: applies to one study, and 2 are given" in proc.stderr
    assert sorted(tmp_path.rglob("*")) == before and not studio.jobs


def test_the_same_study_twice_and_compare_of_one_are_refused(studio: FakeStudio, tmp_path: Path) -> None:
    a = write_study(tmp_path, studio.base_url, name="a", trials=1)
    twice = run_sweep("run", str(a), str(tmp_path / "." / "a.toml"), env=sweep_env(KEY), cwd=tmp_path)
    assert twice.returncode == 2 and "is given twice" in twice.stderr
    one = run_sweep("run", str(a), "--compare", env=sweep_env(KEY), cwd=tmp_path)
    assert one.returncode == 2 and "--compare" in one.stderr
    assert not (tmp_path / ".sweep").exists()


def _wait_for_job(fake: FakeStudio, learn_id: int, timeout: float = 30.0) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if jobs := _jobs_of(fake, learn_id):
            return int(jobs[0].id)
        time.sleep(0.05)
    raise AssertionError(f"no job on learn block {learn_id} in time")


@pytest.mark.parametrize("parallel", [False, True], ids=["in-turn", "parallel"])
def test_sigterm_stops_the_running_study_and_starts_no_other(studio: FakeStudio, tmp_path: Path,
                                                             parallel: bool) -> None:
    studio.default_script = JobScript(duration_s=30.0)
    a = write_study(tmp_path, studio.base_url, name="a", trials=2, learn_blocks=(7,))
    b = write_study(tmp_path, studio.base_url, name="b", trials=2, learn_blocks=(8,))
    args = [str(a), str(b), "--no-report", *(["--parallel"] if parallel else [])]
    proc = subprocess.Popen(sweep_cmd("run", *args), env=sweep_env(KEY), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    job_a = _wait_for_job(studio, 7)
    job_b = _wait_for_job(studio, 8) if parallel else None
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert studio.jobs[job_a].cancelled is not None
    assert [t.state for t in load(tmp_path, "a").get_trials()] == [TrialState.FAIL]
    assert "exit 130: interrupted: 0 completed, 1 failed" in _line(err, a)
    if parallel:  # both ran, both stopped as a single run stops
        assert job_b is not None and studio.jobs[job_b].cancelled is not None
        assert "exit 130: interrupted" in _line(err, b)
    else:  # b never started: no study, no job
        assert not _jobs_of(studio, 8) and not (tmp_path / ".sweep" / "b.journal").exists()
        assert _line(err, b).endswith("exit 130: not started: the batch was interrupted")
    assert "batch: 2 studies, exit code 130" in err
