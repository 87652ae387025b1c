"""A refused command writes nothing, anywhere: every bad study file, flag, variable and target through the CLI."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from sweep.cli import main
from sweep.local.identity import ensure_identity
from sweep.session.home import LOCAL_STUDIO_ATTR
from sweep.session.storage import open_storage

from study_cases import BAD, BASE, edit


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def _refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the CLI in ``tmp_path``; assert exit 2, one error line set, and not a byte written; return stderr."""
    before = _snapshot(tmp_path)
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("sweep: error: ") and "Traceback" not in err
    assert _snapshot(tmp_path) == before, "a refused command wrote something"
    return err


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the default data dir (.sweep/studio) and reports/ are relative to it
    return tmp_path


@pytest.mark.parametrize(("text", "field", "value", "message"), BAD)
def test_every_bad_study_file_exits_2_and_writes_nothing(
    workspace: Path, capsys: pytest.CaptureFixture[str], text: str, field: str, value: object, message: str
) -> None:
    path = workspace / "study.toml"
    path.write_text(text)
    for command in ("run", "status", "best", "report"):
        err = _refused(workspace, capsys, command, str(path))
        assert err == f"sweep: error: {path}: {message}\n"


@pytest.mark.parametrize(("where", "url", "reason"), [
    ("--storage", "mongodb://localhost/sweep", "unknown storage scheme 'mongodb'"),
    ("--storage", "mysql+pymysql://me:pw@db/sweep", "the database driver for 'mysql+pymysql' is not installed"),
    ("SWEEP_STORAGE", "redis://localhost:6379", "unknown storage scheme 'redis'"),
    ("SWEEP_STORAGE", "sqlite://", "an in-memory SQLite database keeps nothing"),
])
def test_a_bad_storage_flag_or_variable_is_named(
    workspace: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, where: str, url: str,
    reason: str,
) -> None:
    path = workspace / "study.toml"
    path.write_text(BASE)
    argv = ["run", str(path)]
    if where == "--storage":
        argv += ["--storage", url]
    else:
        monkeypatch.setenv("SWEEP_STORAGE", url)
    err = _refused(workspace, capsys, *argv)
    assert err.startswith(f"sweep: error: {where}: {reason}")
    assert "pw@" not in err


def test_a_local_project_that_does_not_exist_starts_no_studio(workspace: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = workspace / "study.toml"
    path.write_text(edit(('project = "digits"', 'project = "digitz"')))
    err = _refused(workspace, capsys, "run", str(path))
    assert err == (f"sweep: error: {path}: target.project: no local project named 'digitz' under "
                   f"{(workspace / '.sweep' / 'studio' / 'projects').resolve()} "
                   "(projects: digits, keywords, keywords-raw; `sweep import` adds one) (got 'digitz')\n")


def test_a_local_learn_block_that_does_not_exist_starts_no_studio(workspace: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = workspace / "study.toml"
    path.write_text(edit(('project = "digits"', 'project = "digits"\nlearn_blocks = [3, 9]')))
    err = _refused(workspace, capsys, "run", str(path))
    assert err == (f"sweep: error: {path}: target.learn_blocks: no learn block with this id in the project's "
                   "impulse (it has [3, 4]) (got 9)\n")
    err = _refused(workspace, capsys, "run", str(path), "--learn-blocks", "5")
    assert "--learn-blocks: no learn block with this id in the project's impulse (it has [3, 4]) (got 5)" in err


def test_learn_blocks_for_a_study_on_slots_are_refused(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = workspace / "study.toml"
    path.write_text(BASE)
    err = _refused(workspace, capsys, "run", str(path), "--learn-blocks", "3")
    assert err == (f"sweep: error: --learn-blocks: {path} trains on 1 cloned slot(s) (target.slots), never on your "
                   "own learn blocks: give this worker some of them with --slots, e.g. --slots 1\n")  # all it has
    path.write_text(edit(('project = "digits"', 'project = "digits"\nslots = 2')))
    err = _refused(workspace, capsys, "run", str(path), "--learn-blocks", "3")
    assert err.endswith("give this worker some of them with --slots, e.g. --slots 1,2\n")
    path.write_text(edit(('project = "digits"', 'project = "digits"\nlearn_blocks = [3]')))
    err = _refused(workspace, capsys, "run", str(path), "--slots", "1")
    assert err == (f"sweep: error: --slots: {path} trains on its learn blocks (target.learn_blocks), not on cloned "
                   "slots: give this worker some of them with --learn-blocks\n")


def test_studio_without_a_key_writes_nothing(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = workspace / "study.toml"
    path.write_text(edit(('kind = "local"\nproject = "digits"', 'kind = "studio"\nproject_id = 5\nlearn_blocks = [7]')))
    err = _refused(workspace, capsys, "run", str(path))
    assert err == f"sweep: error: EI_API_KEY: {path}: target.kind is 'studio' but EI_API_KEY is not set\n"


@pytest.mark.parametrize("command", ["status", "best", "report"])
def test_reading_a_study_that_never_ran_creates_no_journal(workspace: Path, capsys: pytest.CaptureFixture[str],
                                                           command: str) -> None:
    path = workspace / "study.toml"
    path.write_text(BASE)
    err = _refused(workspace, capsys, command, str(path))
    journal = workspace / ".sweep" / "digits-dense.journal"
    assert err == (f"sweep: error: no study named 'digits-dense' in journal:{journal}; "
                   f"run `sweep run {path}` first\n")
    err = _refused(workspace, capsys, command, str(path), "--storage", f"sqlite:///{workspace / 'none.db'}")
    assert "no study named 'digits-dense'" in err


def _existing(workspace: Path, directions: list[str], target: str) -> None:
    storage = open_storage(f"journal:{workspace / '.sweep' / 'digits-dense.journal'}")
    study = optuna.create_study(study_name="digits-dense", storage=storage, directions=directions)
    study.set_user_attr("target", target)


def test_an_existing_study_with_other_directions_is_refused_untouched(
        workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = workspace / "study.toml"
    path.write_text(BASE)
    _existing(workspace, ["minimize"], "local studio project 'digits'")
    err = _refused(workspace, capsys, "run", str(path))
    assert err == ("sweep: error: objectives: study 'digits-dense' in this storage has directions ['minimize'], "
                   "the study file says ['maximize']; use another name or storage\n")


def test_an_existing_study_of_another_target_is_refused_untouched(
        workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = workspace / "study.toml"
    path.write_text(BASE)
    _existing(workspace, ["maximize"], "Edge Impulse Studio project 5")
    err = _refused(workspace, capsys, "run", str(path))
    assert err == (f"sweep: error: {path}: target: study 'digits-dense' already ran on Edge Impulse Studio project "
                   "5; it cannot take trials from another target: give this run another study name or storage "
                   "(got \"local studio project 'digits'\")\n")


def test_a_busy_learn_block_is_refused_before_anything_is_written(
        workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Another live worker of the study trains on learn block 3: no studio, no report, the journal untouched."""
    import socket
    import subprocess
    import sys

    path = workspace / "study.toml"
    path.write_text(edit(('project = "digits"', 'project = "digits"\nlearn_blocks = [3]')))
    _existing(workspace, ["maximize"], "local studio project 'digits'")
    study = optuna.load_study(study_name="digits-dense",
                              storage=open_storage(f"journal:{workspace / '.sweep' / 'digits-dense.journal'}"))
    data = (workspace / ".sweep" / "studio").resolve()  # the studio the study ran on, as it recorded it
    identity = ensure_identity(data)
    study.set_user_attr(LOCAL_STUDIO_ATTR, {"id": identity.id, "data_dir": str(data), "host": identity.host})
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        trial = study.ask()
        trial.set_user_attr("worker", {"host": socket.gethostname(), "pid": other.pid, "learn_id": 3,
                                       "heartbeat": "2026-01-01T00:00:00+00:00"})
        err = _refused(workspace, capsys, "run", str(path))
    finally:
        other.kill()
        other.wait()
    assert err == (f"sweep: error: --learn-blocks: learn block 3 is in use by another live worker of this study "
                   f"(host {socket.gethostname()}, pid {other.pid}, trial {trial.number}); a learn block runs one "
                   "job at a time: give each worker its own blocks, e.g. --learn-blocks 12,13\n")


@pytest.mark.parametrize(("env", "flag", "message"), [
    ({"SWEEP_POLL_MAX_S": "soon"}, [], "SWEEP_POLL_MAX_S: input should be a valid number, unable to parse string as "
                                       "a number (got 'soon')"),
    ({"EI_PROJECT_ID": "five"}, [], "EI_PROJECT_ID: input should be a valid integer, unable to parse string as an "
                                    "integer (got 'five')"),
    ({"SWEEP_STALE_AFTER_S": "10"}, [], "SWEEP_STALE_AFTER_S: must be at least 60 s, twice the 30 s heartbeat of a "
                                        "running trial (got 10.0)"),
    ({}, ["--stale-after", "30s"], "--stale-after: must be at least 60 s, twice the 30 s heartbeat of a running "
                                   "trial (got '30s')"),
    ({}, ["--stale-after", "a while"], "--stale-after: not a duration: use seconds (e.g. 300) or text like '5m' "
                                       "(got 'a while')"),
    ({}, ["--trials", "0"], "--trials: must be at least 1 (got 0)"),
    ({}, ["--learn-blocks", "3,x"], "--learn-blocks: not a comma-separated list of learn block ids: '3,x'"),
    ({}, ["--slots", "0"], "--slots: give distinct positive slot numbers (got '0')"),
    ({}, ["--slots", "2"], "--slots: the study has slots 1 to 1 (target.slots = 1); no slot 2"),
])
def test_bad_settings_and_flags_are_named(workspace: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch, env: dict[str, str], flag: list[str],
                                          message: str) -> None:
    path = workspace / "study.toml"
    path.write_text(BASE)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    err = _refused(workspace, capsys, "run", str(path), *flag)
    assert err == f"sweep: error: {message}\n"


def test_a_study_run_on_another_local_studio_is_refused_untouched(
        workspace: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """SWEEP_DATA_DIR names another studio than the one the study recorded: refused, that data dir not made."""
    path = workspace / "study.toml"
    path.write_text(BASE)
    _existing(workspace, ["maximize"], "local studio project 'digits'")
    study = optuna.load_study(study_name="digits-dense",
                              storage=open_storage(f"journal:{workspace / '.sweep' / 'digits-dense.journal'}"))
    data = (workspace / "first").resolve()
    identity = ensure_identity(data)
    study.set_user_attr(LOCAL_STUDIO_ATTR, {"id": identity.id, "data_dir": str(data), "host": identity.host})
    monkeypatch.setenv("SWEEP_DATA_DIR", str(workspace / "second"))
    for command in ("run", "cleanup"):
        err = _refused(workspace, capsys, command, str(path))
        assert err == (f"sweep: error: SWEEP_DATA_DIR: names {workspace / 'second'}, which does not exist, but study "
                       f"'digits-dense' runs on the local studio at {data} (id {identity.short}, made on "
                       f"{identity.host}), as it recorded: a study's clones, jobs and models live in one local studio. "
                       "Unset SWEEP_DATA_DIR (every command finds that studio from any directory), or run a new "
                       "study there (another name or storage)\n")
