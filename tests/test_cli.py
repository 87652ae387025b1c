"""The CLI edge: help everywhere, light imports, bad study files exit 2 and write nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sweep.cli import build_parser

COMMANDS = ["run", "confirm", "test", "status", "best", "report", "dashboard", "cleanup", "compare", "serve", "import"]


def _sweep(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sweep.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_every_command_is_listed_in_the_parser() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)


@pytest.mark.parametrize("command", [pytest.param(c, id=c) for c in [None, *COMMANDS]])
def test_help(command: str | None) -> None:
    proc = _sweep(*([command] if command else []), "--help")
    assert proc.returncode == 0
    assert "usage: sweep" in proc.stdout
    if command:
        assert command in proc.stdout.splitlines()[0]


def test_import_sweep_stays_light() -> None:
    code = ("import sys, sweep, sweep.cli, sweep.errors, sweep.studio.models, sweep.report;"
            "heavy = [m for m in ('tensorflow', 'keras', 'starlette', 'uvicorn', 'matplotlib', 'optuna', 'pandas')"
            " if m in sys.modules]; print(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_bad_study_file_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\ntrials = 0\n')
    before = sorted(tmp_path.rglob("*"))
    proc = _sweep("run", str(bad), cwd=tmp_path)
    assert proc.returncode == 2
    assert f"{bad}: trials" in proc.stderr
    assert sorted(tmp_path.rglob("*")) == before


def test_sweep_test_of_a_study_never_run_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    study = Path(__file__).parent / "study_files" / "digits-dense.toml"
    for args in (["--top", "0"], []):
        proc = _sweep("test", str(study), "--storage", f"journal:{tmp_path / 'x.journal'}", *args, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert ("--top: must be at least 1" if args else "no study named") in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_missing_study_file(tmp_path: Path) -> None:
    proc = _sweep("status", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert proc.returncode == 2 and "no such study file" in proc.stderr


def test_status_of_a_study_never_run(tmp_path: Path) -> None:
    study = Path(__file__).parent / "study_files" / "digits-dense.toml"
    proc = _sweep("status", str(study), "--storage", f"journal:{tmp_path / 'x.journal'}", cwd=tmp_path)
    assert proc.returncode == 2 and "no study named 'digits-dense'" in proc.stderr


def test_version() -> None:
    import sweep

    proc = _sweep("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"sweep {sweep.__version__}"


def test_the_distribution_is_ei_sweep_and_installs_the_sweep_command() -> None:
    """`sweep` on PyPI is an unrelated project: ours is published as ei-sweep, command and package sweep."""
    import importlib.metadata as metadata

    import sweep

    assert metadata.version("ei-sweep") == sweep.__version__
    scripts = [e for e in metadata.entry_points(group="console_scripts") if e.name == "sweep"]
    assert [e.value for e in scripts] == ["sweep.cli:main"] and scripts[0].dist.name == "ei-sweep"


def test_status_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`sweep status | head -1` on a study whose table is far longer than a pipe's buffer."""
    import optuna

    from sweep.session.storage import open_storage

    study_file = Path(__file__).parent / "study_files" / "digits-dense.toml"
    url = f"journal:{tmp_path / 'big.journal'}"
    study = optuna.create_study(study_name="digits-dense", storage=open_storage(url),
                                directions=["maximize", "minimize"])
    for i in range(600):
        study.add_trial(optuna.trial.create_trial(
            params={"learning_rate": 0.001}, values=[i / 600, 1.0],
            distributions={"learning_rate": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)},
            user_attrs={"job_id": i, "failure": "x" * 40}))
    proc = subprocess.run(["bash", "-o", "pipefail", "-c",
                           f"{sys.executable} -m sweep.cli status {study_file} --storage {url} | head -1"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert len(proc.stdout.splitlines()) == 1 and "state" in proc.stdout, proc.stdout
    assert proc.stderr == "", proc.stderr  # no BrokenPipeError traceback, no "Exception ignored"
    assert proc.returncode == 141  # 128 + SIGPIPE, as `yes | head -1` under pipefail
