"""Which local studio a study uses, with the real CLI and the real local studio: the one it recorded (identity and
absolute data dir), from any working directory; another one is refused before anything is written; a study from
before records keeps working from the directory it ran in, and records its studio once."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from sweep.local.identity import STUDIO_JSON, ensure_identity, read_identity
from sweep.session.home import LOCAL_STUDIO_ATTR
from sweep.session.storage import open_storage

pytestmark = pytest.mark.slow

NAME = "digits"
STUDY = f"""
name = "{NAME}"
trials = 2
max_consecutive_failures = 2
device = "cortex-m4f-80mhz"

[target]
kind = "local"
project = "digits"

[sampler]
name = "tpe"
seed = 3

[[objectives]]
metric = "int8.accuracy"
direction = "maximize"

[space]
learning_rate = {{ low = 5e-3, high = 3e-2, log = true }}
batch_size = 32
training_cycles = 2

[[space.layers]]
type = "dense"
neurons = {{ choices = [8, 16] }}

[fixed]
trainTestSplit = 0.2
"""


def _env(**extra: str) -> dict[str, str]:
    """No SWEEP_DATA_DIR: the default .sweep/studio of the working directory is the point."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EI_", "SWEEP_"))}
    env.update({"SWEEP_POLL_INITIAL_S": "0.1", "SWEEP_POLL_MAX_S": "0.5", "SWEEP_LOCAL_LINGER_S": "1"}, **extra)
    return env


def _sweep(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sweep.cli", *args], env=_env(**env), cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def _run(cwd: Path, study: str, trials: int, **env: str) -> subprocess.CompletedProcess[str]:
    return _sweep(cwd, "run", study, "--no-report", "--trials", str(trials), **env)


def _journal(ws: Path) -> Path:
    return ws / "studies" / ".sweep" / f"{NAME}.journal"


def _study(ws: Path, name: str = NAME) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(f"journal:{_journal(ws)}"))


def _job_ids(ws: Path) -> list[int]:
    """Every job id the study and its baseline recorded, in trial order."""
    trials = [*_study(ws, f"{NAME}:baseline").get_trials(), *_study(ws).get_trials()]
    return [int(t.user_attrs["job_id"]) for t in trials if "job_id" in t.user_attrs]


def _complete(ws: Path) -> int:
    return sum(t.state == TrialState.COMPLETE for t in _study(ws).get_trials())


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes: what a refused command must leave as it was."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _stop_servers(*data_dirs: Path) -> None:
    """Kill a server a failed test left on these data dirs (an owned server leads its own process group)."""
    for data in data_dirs:
        with contextlib.suppress(OSError, ValueError, KeyError):
            pid = int(json.loads((data / "server.json").read_text())["pid"])
            os.killpg(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A repository-like folder, ``studies/digits.toml``, whose study first ran from the folder's root."""
    root = tmp_path_factory.mktemp("home")
    (root / "studies").mkdir()
    (root / "studies" / "digits.toml").write_text(STUDY)
    try:
        first = _run(root, "studies/digits.toml", 2)
        assert first.returncode == 0, first.stderr
        yield root
    finally:
        _stop_servers(root / ".sweep" / "studio", root / "studies" / ".sweep" / "studio")


def test_a_study_records_its_studio_and_a_run_from_another_directory_uses_it(ws: Path) -> None:
    """The issue's repro: `cd studies && sweep run digits.toml` after a run from the root reuses the first studio:
    the recorded clone is found, no second studio is made, no job id is given twice."""
    data = ws / ".sweep" / "studio"
    slots = _study(ws).user_attrs["slots"]
    before = _job_ids(ws)
    assert len(before) == 3  # the baseline and two trials

    again = _run(ws / "studies", "digits.toml", 3)
    assert again.returncode == 0, again.stderr
    assert not (ws / "studies" / ".sweep" / "studio").exists()  # no second studio beside the study file
    assert "deleted outside this study" not in again.stderr and "cloned impulse" not in again.stderr
    assert f"local studio: {data}, as study 'digits' recorded" in again.stderr
    assert _study(ws).user_attrs["slots"] == slots  # the same clone, found where it is
    assert _complete(ws) == 3
    jobs = _job_ids(ws)
    assert jobs[:3] == before and len(jobs) == 4 and len(set(jobs)) == 4  # job ids go on; none given twice

    identity = read_identity(data)  # made by the first run's server, recorded on the study with its data dir
    assert identity is not None
    assert _study(ws).user_attrs[LOCAL_STUDIO_ATTR] == {"id": identity.id, "data_dir": str(data),
                                                         "host": identity.host}


def test_another_studio_is_refused_before_anything_is_written(ws: Path, tmp_path: Path) -> None:
    data = ws / ".sweep" / "studio"
    journal = _journal(ws).read_bytes()

    # SWEEP_DATA_DIR naming another data dir: refused, that data dir not made, the study untouched
    other = tmp_path / "other-studio"
    named = _run(ws / "studies", "digits.toml", _complete(ws) + 1, SWEEP_DATA_DIR=str(other))
    assert named.returncode == 2, named.stderr
    assert not other.exists() and _journal(ws).read_bytes() == journal
    identity = read_identity(data)
    assert identity is not None
    assert "SWEEP_DATA_DIR" in named.stderr and str(other) in named.stderr and str(data) in named.stderr
    assert identity.short in named.stderr and "Traceback" not in named.stderr

    # the recorded data dir now holds another studio (another machine's at the same path, or one made anew)
    kept = tmp_path / "kept-studio"
    data.rename(kept)
    try:
        newcomer = ensure_identity(data)
        before = _tree(data)
        for command in (("run", "digits.toml", "--no-report"), ("cleanup", "digits.toml"),
                        ("best", "digits.toml", "--apply"), ("confirm", "digits.toml", "--no-report")):
            refused = _sweep(ws / "studies", *command)
            assert refused.returncode == 2, (command, refused.stderr)
            assert identity.short in refused.stderr and newcomer.short in refused.stderr, refused.stderr
            assert _tree(data) == before and _journal(ws).read_bytes() == journal
        # the recorded data dir gone: refused, and not made again
        shutil.rmtree(data)
        gone = _run(ws / "studies", "digits.toml", 9)
        assert gone.returncode == 2 and f"{data}, which does not exist" in gone.stderr, gone.stderr
        assert not data.exists() and _journal(ws).read_bytes() == journal
    finally:
        shutil.rmtree(data, ignore_errors=True)
        kept.rename(data)


def test_a_study_from_before_records_runs_from_its_directory_and_records_its_studio_once(
        ws: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(ws, old, ignore=shutil.ignore_patterns("server.json", "owners", "*.lock"))
    journal = _journal(old)
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(line for line in lines if LOCAL_STUDIO_ATTR not in line))  # as an older sweep wrote it
    data = old / ".sweep" / "studio"
    (data / STUDIO_JSON).unlink(missing_ok=True)  # and a data dir from before identities
    assert LOCAL_STUDIO_ATTR not in _study(old).user_attrs
    done = _complete(old)

    # from another directory: its default .sweep/studio holds no studio: refused, nothing made
    elsewhere = _run(old / "studies", "digits.toml", done + 1)
    assert elsewhere.returncode == 2, elsewhere.stderr
    assert "ran before sweep recorded" in elsewhere.stderr and "directory it first ran in" in elsewhere.stderr
    assert not (old / "studies" / ".sweep" / "studio").exists()

    # from the directory it ran in: it runs, and records its studio, saying so once
    here = _run(old, "studies/digits.toml", done + 1)
    assert here.returncode == 0, here.stderr
    identity = read_identity(data)
    assert identity is not None  # the old data dir got its identity on first use
    assert f"recorded now, {data} (id {identity.short})" in here.stderr
    assert _study(old).user_attrs[LOCAL_STUDIO_ATTR]["data_dir"] == str(data)

    # from then on, from any directory, without a word
    later = _run(old / "studies", "digits.toml", done + 2)
    assert later.returncode == 0, later.stderr
    assert "recorded now" not in later.stderr and not (old / "studies" / ".sweep" / "studio").exists()
    assert _complete(old) == done + 2
    jobs = _job_ids(old)
    assert len(jobs) == len(set(jobs))
