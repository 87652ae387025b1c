"""`sweep run --log-format json`: one event per line, each valid against docs/events.schema.json, telling the same
story as the study's storage; the live line only on terminals; events never stop a sweep."""

from __future__ import annotations

import io
import json
import math
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from optuna.trial import TrialState

from sweep.run.events import EVENT_NAMES, Events, JsonLines
from sweep.run.progress import Progress

from fake_studio import FakeStudio, JobScript
from runner_support import load, run_sweep, sweep_env, write_study

KEY = "ei_secret_events_key_5678901234"
SCHEMA = json.loads((Path(__file__).parent.parent / "docs" / "events.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


@pytest.fixture
def studio():
    with FakeStudio(api_key=KEY) as fake:
        yield fake


def events_of(text: str) -> list[dict[str, Any]]:
    """Every line parsed, each checked against the schema (an invalid one fails the test, naming the line)."""
    records = []
    for line in text.splitlines():
        record = json.loads(line)
        errors = sorted(VALIDATOR.iter_errors(record), key=str)
        assert not errors, f"{line}\n-> {errors[0].message}"
        records.append(record)
    return records


def test_the_schema_knows_every_event_and_the_docs_show_one_valid_line_of_each() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert sorted(s["properties"]["event"]["const"] for s in SCHEMA["oneOf"]) == sorted(EVENT_NAMES)
    doc = (Path(__file__).parent.parent / "docs" / "events.md").read_text()
    examples = [line for line in doc.splitlines() if line.startswith('{"event":')]
    shown = [r["event"] for r in events_of("\n".join(examples))]
    assert sorted(set(shown)) == sorted(EVENT_NAMES)


def test_a_runs_events_follow_the_schema_and_tell_what_the_study_holds(studio: FakeStudio, tmp_path: Path) -> None:
    studio.script(JobScript(duration_s=3.0),
                  JobScript(succeed=False, duration_s=0.3, log_lines=["Epoch 1/5", "ERR: out of memory"]), JobScript())
    path = write_study(tmp_path, studio.base_url, trials=2)
    (tmp_path / "mine.json").write_text(json.dumps([{"learning_rate": 0.004}]))
    proc = run_sweep("run", str(path), "--no-report", "--log-format", "json", "--enqueue", "mine.json",
                     env=sweep_env(KEY), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "trial 0: complete" in proc.stderr  # the human lines go on, on stderr
    assert KEY not in proc.stdout + proc.stderr
    events = events_of(proc.stdout)
    names = [e["event"] for e in events]
    assert names[0] == "run_started" and names[-1] == "study_done"
    assert {e["study"] for e in events} == {"fake"}
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)
    started = events[0]
    assert started["trials"] == 2 and started["done"] == 0 and started["learn_blocks"] == [7]
    assert "project 42" in started["target"] and started["file"] == str(path) and started["on_stop"] == "cancel"

    trials = load(tmp_path).get_trials()
    asked = [e for e in events if e["event"] == "trial_asked"]
    jobs = [e for e in events if e["event"] == "job_started"]
    finished = {e["trial"]: e for e in events if e["event"] == "trial_finished"}
    assert [e["trial"] for e in asked] == [t.number for t in trials] == [0, 1, 2]
    assert [e["origin"] for e in asked] == ["enqueued", "sampled", "sampled"]
    assert asked[0]["params"]["learning_rate"] == 0.004
    assert [e["seed"] for e in asked] == [t.user_attrs["seed"] for t in trials]
    for t in trials:
        assert next(e for e in asked if e["trial"] == t.number)["params"] == pytest.approx(t.params)
        assert next(e for e in jobs if e["trial"] == t.number)["job_id"] == t.user_attrs["job_id"]
        told = finished[t.number]
        assert told["state"] == t.state.name and told["job_id"] == t.user_attrs["job_id"]
        if t.state == TrialState.COMPLETE:
            assert told["values"] == pytest.approx(t.values)
            assert told["metrics"] == pytest.approx(t.user_attrs["metrics"])
            assert told["compute_s"] == pytest.approx(t.user_attrs["metrics"]["compute_time_s"])
    failed = next(e for e in finished.values() if e["state"] == "FAIL")
    assert "ERR: out of memory" in failed["failure"] and failed["values"] is None
    assert failed["compute_s"] == pytest.approx(0.3, abs=0.05)

    # the 3 s job's epochs, read from the project socket, in order, each once, as the live line would show them
    epochs = [e for e in events if e["event"] == "epoch" and e["trial"] == 0]
    cycles = trials[0].user_attrs["request"]["trainingCycles"]
    assert epochs and all(e["of"] == cycles and e["job_id"] == trials[0].user_attrs["job_id"] for e in epochs)
    assert [e["epoch"] for e in epochs] == sorted({e["epoch"] for e in epochs})
    assert epochs[0]["total"] == 2 and epochs[0]["done"] == 0 and epochs[0]["eta_s"] is None

    done = events[-1]
    assert done["exit_code"] == 0 and done["complete_in_study"] == 2
    assert done["summary"] | {"stopped_reason": ""} == {"completed": 2, "failed": 1, "reused": 0, "reattached": 0,
                                                        "pruned": 0, "left": 0, "stopped_reason": "",
                                                        "baseline": None}
    study = load(tmp_path)
    assert done["best"] == [{"trial": study.best_trial.number, "values": pytest.approx(study.best_trial.values)}]


def test_a_log_file_is_appended_to_and_stdout_stays_empty(studio: FakeStudio, tmp_path: Path) -> None:
    path = write_study(tmp_path, studio.base_url, trials=1)
    log = tmp_path / "logs" / "events.jsonl"
    log.parent.mkdir()
    first = run_sweep("run", str(path), "--no-report", "--log-format", "json", "--log-file", str(log),
                      env=sweep_env(KEY), cwd=tmp_path)
    again = run_sweep("run", str(path), "--no-report", "--trials", "2", "--log-format", "json", "--log-file",
                      str(log), env=sweep_env(KEY), cwd=tmp_path)
    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    assert first.stdout == again.stdout == ""
    events = events_of(log.read_text())
    runs = [e for e in events if e["event"] == "run_started"]
    assert [(e["trials"], e["done"]) for e in runs] == [(1, 0), (2, 1)]
    assert [e["trial"] for e in events if e["event"] == "trial_finished"] == [0, 1]


def test_errors_are_events_too_and_never_show_the_key(studio: FakeStudio, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\ntrials = 0\n[target]\nkind = "local"\n')
    proc = run_sweep("run", str(bad), "--log-format", "json", env=sweep_env(KEY), cwd=tmp_path)
    assert proc.returncode == 2
    (error,) = events_of(proc.stdout)
    assert error["event"] == "error" and error["study"] is None and error["exit_code"] == 2
    assert error["file"] == str(bad) and f"{bad}: trials" in error["message"]
    assert not (tmp_path / ".sweep").exists()

    wrong = "ei_wrong_key_abcdef0123456789"
    path = write_study(tmp_path, studio.base_url, trials=1)
    refused = run_sweep("run", str(path), "--log-format", "json", env=sweep_env(wrong), cwd=tmp_path)
    assert refused.returncode == 3
    (error,) = events_of(refused.stdout)
    assert error["exit_code"] == 3 and error["study"] == "fake" and "EI_API_KEY" in error["message"]
    assert wrong not in refused.stdout + refused.stderr


def _doc_examples() -> dict[str, dict[str, Any]]:
    doc = (Path(__file__).parent.parent / "docs" / "events.md").read_text()
    return {e["event"]: e for e in (json.loads(line) for line in doc.splitlines() if line.startswith('{"event":'))}


def test_the_docs_error_examples_are_what_sweep_says(studio: FakeStudio, tmp_path: Path) -> None:
    """docs/events.md's error texts, produced for real: its bad study file (the demo's, with trials = 0), and a job
    that fails with its out-of-memory line."""
    examples = _doc_examples()
    (tmp_path / "studies").mkdir()
    digits = (Path(__file__).parent.parent / "studies" / "digits.toml").read_text()
    (tmp_path / "studies" / "bad.toml").write_text(digits.replace("trials = 12", "trials = 0"))
    proc = run_sweep("run", "studies/bad.toml", "--log-format", "json", env=sweep_env(KEY), cwd=tmp_path)
    (error,) = events_of(proc.stdout)
    assert error["message"] == examples["error"]["message"] and error["file"] == examples["error"]["file"]
    shown = next(s for s in examples["batch_done"]["studies"] if s["study"] is None)
    assert shown["outcome"] == f"error: {error['message']}"

    oom = "ResourceExhaustedError: OOM when allocating tensor"
    studio.script(JobScript(succeed=False, duration_s=0.2, log_lines=["Epoch 1/20", oom]))
    path = write_study(tmp_path, studio.base_url, trials=1)
    run = run_sweep("run", str(path), "--no-report", "--log-format", "json", env=sweep_env(KEY), cwd=tmp_path)
    failed = next(e for e in events_of(run.stdout) if e["event"] == "trial_finished")
    doc = next(line for line in (Path(__file__).parent.parent / "docs" / "events.md").read_text().splitlines()
               if '"state":"FAIL"' in line)
    assert failed["failure"] == f"job {failed['job_id']}: failed: {oom}"
    assert json.loads(doc)["failure"] == f"job {json.loads(doc)['job_id']}: failed: {oom}"


def test_a_log_file_without_json_is_refused(tmp_path: Path) -> None:
    proc = run_sweep("run", "x.toml", "--log-file", str(tmp_path / "e.jsonl"), env=sweep_env(KEY), cwd=tmp_path)
    assert proc.returncode == 2 and "--log-file" in proc.stderr and "--log-format json" in proc.stderr
    assert not (tmp_path / "e.jsonl").exists()


def test_events_are_plain_json_and_a_failing_sink_never_stops_the_run(caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    Events(JsonLines(out), "s").trial_finished(trial=1, label="trial 1", state="COMPLETE", job_id=3, wall_s=1.0,
                                               compute_s=math.nan, values=[math.inf, 0.5], metrics={"a": math.nan})
    (record,) = events_of(out.getvalue())
    assert record["values"] == [None, 0.5] and record["metrics"] == {"a": None} and record["compute_s"] is None

    calls = []

    def broken(record: dict[str, Any]) -> None:
        calls.append(record)
        raise OSError("disk full")

    events = Events(broken, "s")
    events.job_started(trial=0, label="trial 0", job_id=1, learn_block=7)
    events.job_started(trial=1, label="trial 1", job_id=2, learn_block=7)
    assert len(calls) == 1 and not events.enabled
    assert "the sink failed (OSError: disk full)" in caplog.text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_live_line_is_drawn_only_when_stderr_and_stdout_are_terminals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", _Terminal())
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # e.g. piped into a scheduler's log
    assert not Progress().live
    monkeypatch.setattr(sys, "stdout", _Terminal())
    assert Progress().live and not Progress(quiet=True).live and not Progress(live=False).live
    piped = Progress()
    piped.running(0, "trial 0", 1, 7, "running", 1.0, (2, 5))
    assert "trial 0 running epoch 2/5" in sys.stderr.getvalue()
