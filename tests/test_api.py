"""The Python API (`import sweep`): light to import, the same run as the CLI's (in-process, against the fake
Studio), its results, trials, best and report; and the notebook example run as is on the real local studio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
from optuna.trial import TrialState

import sweep
from sweep.errors import StudyFileError

from fake_studio import FakeStudio, JobScript
from runner_support import load, write_study

KEY = "ei_secret_api_key_1122334455"
ROOT = Path(__file__).parent.parent
SCHEMA = json.loads((ROOT / "docs" / "events.schema.json").read_text())
HEAVY = ("keras", "tensorflow", "starlette", "uvicorn", "optuna", "pandas", "matplotlib")


@pytest.fixture
def studio():
    with FakeStudio(api_key=KEY) as fake:
        yield fake


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The environment the API reads its settings from, as the CLI does."""
    for name, value in {"EI_API_KEY": KEY, "SWEEP_POLL_INITIAL_S": "0.05", "SWEEP_POLL_MAX_S": "0.2",
                        "SWEEP_REPORTS_DIR": str(tmp_path / "reports")}.items():
        monkeypatch.setenv(name, value)


def test_import_sweep_is_light_and_names_its_api() -> None:
    code = ("import sys, sweep\n"
            "names = [sweep.load_study, sweep.study_from_dict, sweep.run_study, sweep.run_batch, sweep.trials,"
            " sweep.best, sweep.write_report, sweep.write_comparison, sweep.StudySpec, sweep.RunResult,"
            " sweep.BatchResult, sweep.RunSummary, sweep.Settings, sweep.SweepError]\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
            "import sweep.run.runner, sweep.report.build\n"  # the subpackages of the same first names ...
            "print(callable(sweep.run_study), callable(sweep.write_report))\n")  # ... do not hide the functions
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert proc.stdout.split("\n")[:2] == ["[]", "True True"], proc.stdout + proc.stderr
    assert set(sweep.__all__) <= set(dir(sweep))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = sweep.nope  # type: ignore[attr-defined]


def test_run_study_from_python_as_the_cli_runs_it(studio: FakeStudio, tmp_path: Path, env: None) -> None:
    studio.script(JobScript(), JobScript(succeed=False, log_lines=["ERR: boom"]), JobScript())
    spec = sweep.load_study(write_study(tmp_path, studio.base_url, trials=2))
    assert isinstance(spec, sweep.StudySpec) and spec.name == "fake"
    events: list[dict] = []  # type: ignore[type-arg]
    result = sweep.run_study(spec, report=False, quiet=True, events=events.append)
    study = load(tmp_path)
    assert isinstance(result, sweep.RunResult) and result.ok and result.exit_code == 0
    assert (result.summary.completed, result.summary.failed, result.complete_in_study) == (2, 1, 2)
    assert result.best == [{"trial": study.best_trial.number, "values": study.best_trial.values}]
    assert result.outcome.startswith("done: 2 completed, 1 failed") and result.report is None
    validator = jsonschema.Draft202012Validator(SCHEMA)
    assert all(validator.is_valid(e) for e in events)
    assert [e["trial"] for e in events if e["event"] == "trial_finished"] == [0, 1, 2]

    frame = sweep.trials(spec)
    assert list(frame["number"]) == [0, 1, 2] and list(frame["state"]) == ["COMPLETE", "FAIL", "COMPLETE"]
    assert list(frame["job_id"]) == [t.user_attrs["job_id"] for t in study.get_trials()]
    (best,) = sweep.best(spec)
    assert best["trial"] == study.best_trial.number and best["request"] == study.best_trial.user_attrs["request"]
    page = sweep.write_report(spec)
    assert page == tmp_path / "reports" / "fake" / "index.html" and page.is_file()

    more = sweep.run_study(spec, trials=3, report=True, quiet=True)  # resumed: one more trial, and the report
    assert more.summary.completed == 1 and more.complete_in_study == 3 and more.report == page


def test_a_study_from_a_dict_is_checked_as_a_file_is(studio: FakeStudio, tmp_path: Path, env: None) -> None:
    data = tomllib.loads(write_study(tmp_path, studio.base_url, trials=2).read_text())
    data["space"]["learning_rate"] = {"low": 0.1, "high": 0.01}
    where = tmp_path / "from-python.toml"
    with pytest.raises(StudyFileError) as refused:
        sweep.study_from_dict(data, path=where)
    assert str(refused.value).startswith(f"{where}: space.learning_rate") and not where.exists()
    data["space"]["learning_rate"] = 0.01
    data["name"] = "from-python"
    spec = sweep.study_from_dict(data, path=where)
    data["trials"] = 99  # the study took a copy
    assert spec.trials == 2 and spec.path == where and not where.exists()
    result = sweep.run_study(spec, report=False, quiet=True)
    assert result.summary.completed == 2 and (tmp_path / ".sweep" / "from-python.journal").is_file()


def test_errors_raise_with_their_exit_code_or_come_back_with_check_false(studio: FakeStudio, tmp_path: Path,
                                                                         env: None) -> None:
    studio.script(*[JobScript(succeed=False, log_lines=["boom"]) for _ in range(6)])
    path = write_study(tmp_path, studio.base_url, trials=3)
    with pytest.raises(sweep.SweepError, match="3 consecutive trials failed") as stopped:
        sweep.run_study(path, report=False, quiet=True)
    assert stopped.value.exit_code == 1
    result = sweep.run_study(path, report=False, quiet=True, check=False)  # resumed: the failures go on
    assert result.exit_code == 1 and not result.ok and "3 consecutive trials failed" in (result.error or "")
    assert result.outcome.startswith("stopped: 3 consecutive trials failed")
    assert [t.state for t in load(tmp_path).get_trials()] == [TrialState.FAIL] * 6
    missing = sweep.run_study(tmp_path / "nope.toml", check=False)
    assert missing.exit_code == 2 and missing.study is None and "no such study file" in missing.outcome


@pytest.mark.slow
def test_the_notebook_example_runs_as_is_on_the_local_studio(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EI_", "SWEEP_"))}
    env |= {"SWEEP_DATA_DIR": str(tmp_path / "data"), "TMPDIR": str(tmp_path), "SWEEP_POLL_INITIAL_S": "0.1",
            "SWEEP_POLL_MAX_S": "0.5"}
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "examples" / "notebook_example.py")], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "exit code 0: done: 2 completed, 0 failed" in proc.stdout
    assert len([line for line in proc.stdout.splitlines() if ": COMPLETE values [" in line]) == 2
    (report,) = tmp_path.glob("sweep-notebook-*/report/index.html")
    assert f"report: {report}" in proc.stdout
