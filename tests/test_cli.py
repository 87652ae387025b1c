"""The CLI edge: help everywhere, light imports, bad study files exit 2 and write nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sweep.cli import build_parser

COMMANDS = ["run", "status", "best", "report", "compare", "serve", "import"]


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


def test_missing_study_file(tmp_path: Path) -> None:
    proc = _sweep("status", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert proc.returncode == 2 and "no such study file" in proc.stderr


def test_status_of_a_study_never_run(tmp_path: Path) -> None:
    study = Path(__file__).parent / "study_files" / "digits-dense.toml"
    proc = _sweep("status", str(study), "--storage", f"journal:{tmp_path / 'x.journal'}", cwd=tmp_path)
    assert proc.returncode == 2 and "no study named 'digits-dense'" in proc.stderr
