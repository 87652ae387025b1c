"""sweep.session.home at its seam: which local studio a study uses, on tmp data dirs and in-memory studies (no server;
tests/test_local_home.py drives the same through the CLI and the real local studio)."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from sweep.errors import SettingsError, UsageError
from sweep.local.datasets import peek_project
from sweep.local.identity import ensure_identity, read_identity
from sweep.session.clones import SlotRecord, SlotsRecord, write_slots
from sweep.session.home import LOCAL_STUDIO_ATTR, read_record, record_home, studio_home
from sweep.settings import Settings
from sweep.study.load import load_study
from sweep.study.spec import StudySpec

STUDY = """
name = "digits"
trials = 2
[target]
kind = "local"
project = "digits"
[[objectives]]
metric = "int8.accuracy"
direction = "maximize"
[space]
learning_rate = { low = 0.001, high = 0.01 }
"""


@pytest.fixture
def spec(tmp_path: Path) -> StudySpec:
    path = tmp_path / "studies" / "digits.toml"
    path.parent.mkdir()
    path.write_text(STUDY)
    return load_study(path, Settings())


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory; its default data dir is root/.sweep/studio."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _recorded(spec: StudySpec, data: Path) -> optuna.Study:
    """A study that ran on the studio at ``data`` (made there now) and recorded it."""
    study = optuna.create_study()
    home = studio_home(spec, None, Settings(data_dir=data))
    assert record_home(spec, study, home, ensure_identity(data)) is None  # a new study: recorded without a word
    return study


def test_a_new_study_uses_the_default_data_dir_of_the_working_directory_made_absolute(spec: StudySpec,
                                                                                     root: Path) -> None:
    home = studio_home(spec, None, Settings())
    assert home.data_dir == root / ".sweep" / "studio" and home.data_dir.is_absolute()
    assert home.recorded is None and not home.old_study
    assert not (root / ".sweep").exists()  # reads only


def test_a_recorded_study_uses_its_studio_from_any_working_directory(spec: StudySpec, root: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    data = root / ".sweep" / "studio"
    study = _recorded(spec, data)
    record = read_record(study)
    assert record is not None and record.data_dir == str(data) and record.id == ensure_identity(data).id
    (root / "studies").mkdir(exist_ok=True)
    monkeypatch.chdir(root / "studies")
    home = studio_home(spec, study, Settings())
    assert home.data_dir == data and home.recorded == record
    default = root / "studies" / ".sweep" / "studio"
    assert home.note == f"local studio: {data}, as study 'digits' recorded (not {default}, this directory's default)"
    assert not (root / "studies" / ".sweep").exists()
    named = studio_home(spec, study, Settings(data_dir=data))  # naming it is fine too
    assert named.data_dir == data and named.note is None


def test_naming_another_data_dir_is_refused_naming_both(spec: StudySpec, root: Path) -> None:
    data = root / "a"
    study = _recorded(spec, data)
    short = ensure_identity(data).short
    with pytest.raises(SettingsError) as refused:
        studio_home(spec, study, Settings(data_dir=root / "b"))
    text = str(refused.value)
    assert refused.value.exit_code == 2 and text.startswith("SWEEP_DATA_DIR: ")
    assert f"{root / 'b'}, which does not exist" in text and f"{data} (id {short}" in text
    other = ensure_identity(root / "b")
    with pytest.raises(SettingsError, match=f"the local studio at {root / 'b'} \\(id {other.short}"):
        studio_home(spec, study, Settings(data_dir=root / "b"))


def test_another_studio_at_the_recorded_path_is_refused_naming_both(spec: StudySpec, root: Path) -> None:
    """Another machine's studio at the same path (a shared PostgreSQL study), or one made anew: the id differs."""
    data = root / ".sweep" / "studio"
    study = _recorded(spec, data)
    first = ensure_identity(data)
    (data / "studio.json").unlink()
    second = ensure_identity(data)
    assert second.id != first.id
    with pytest.raises(UsageError) as refused:
        studio_home(spec, study, Settings())
    assert first.short in str(refused.value) and second.short in str(refused.value)
    assert refused.value.exit_code == 2
    # and a command that connected to another studio than the recorded one records nothing
    with pytest.raises(UsageError, match=first.short):
        record_home(spec, study, studio_home(spec, None, Settings()), second)
    assert read_record(study) is not None and read_record(study).id == first.id  # type: ignore[union-attr]


def test_a_moved_studio_is_found_by_its_identity_and_recorded_anew(spec: StudySpec, root: Path) -> None:
    old, new = root / "old", root / "new"
    study = _recorded(spec, old)
    old.rename(new)
    with pytest.raises(UsageError, match="which does not exist"):
        studio_home(spec, study, Settings())
    home = studio_home(spec, study, Settings(data_dir=new))
    assert home.data_dir == new
    identity = read_identity(new)
    assert identity is not None
    told = record_home(spec, study, home, identity)
    assert told is not None and f"moved from {old} to {new}" in told
    assert study.user_attrs[LOCAL_STUDIO_ATTR]["data_dir"] == str(new)
    assert studio_home(spec, study, Settings()).data_dir == new  # from then on without naming it


def _old_study(with_clone: bool) -> optuna.Study:
    """A study as an older sweep left it: a trial, its clone recorded, no studio recorded."""
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(value=0.9, user_attrs={"job_id": 3}))
    if with_clone:
        write_slots(study, SlotsRecord(source_impulse_id=1, source_learn_id=3, clones={
            1: SlotRecord(number=1, impulse_id=2, learn_id=13, name="sweep:digits:1")}))
    return study


def _add_clone(data: Path) -> None:
    project = peek_project(data, "digits")
    (data / "impulses").mkdir(parents=True, exist_ok=True)
    (data / "impulses" / f"{project.id}.json").write_text(json.dumps(
        {"defaultImpulseId": 1, "nextImpulseId": 3, "nextBlockId": 20,
         "impulses": [{"id": 1, "name": "Impulse #1"}, {"id": 2, "name": "sweep:digits:1"}]}))


def test_a_study_from_before_records_needs_its_studio_at_hand_then_records_it_once(spec: StudySpec,
                                                                                  root: Path) -> None:
    study = _old_study(with_clone=True)
    data = root / ".sweep" / "studio"
    with pytest.raises(UsageError, match="holds no local studio") as refused:
        studio_home(spec, study, Settings())
    assert "directory it first ran in" in str(refused.value) and not data.exists()
    (data / "jobs").mkdir(parents=True)  # a studio of an older sweep (no identity), but not this study's
    with pytest.raises(UsageError, match="does not hold its clones \\(impulses 2 'sweep:digits:1'\\)"):
        studio_home(spec, study, Settings())
    _add_clone(data)
    home = studio_home(spec, study, Settings())
    assert home.data_dir == data and home.old_study and home.recorded is None
    identity = ensure_identity(data)  # what the server does on first use
    told = record_home(spec, study, home, identity)
    assert told is not None and f"recorded now, {data} (id {identity.short})" in told
    again = studio_home(spec, study, Settings())
    assert again.recorded is not None and record_home(spec, study, again, identity) is None  # said once


def test_an_old_study_that_never_used_a_studio_records_the_one_at_hand(spec: StudySpec, root: Path) -> None:
    study = optuna.create_study()
    home = studio_home(spec, study, Settings())
    assert home.data_dir == root / ".sweep" / "studio" and home.old_study


def test_two_processes_making_an_identity_agree_on_the_first(tmp_path: Path) -> None:
    first = ensure_identity(tmp_path / "d")
    assert ensure_identity(tmp_path / "d") == first == read_identity(tmp_path / "d")
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["studio.json"]  # no temporary file left
