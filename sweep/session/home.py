"""Which local studio a study uses: the one it recorded (identity and data dir), found from any working directory.

A study on the local studio records, when a command first connects to it, the studio's identity
(``DATA/studio.json``, :mod:`sweep.local.identity`) and absolute data dir in its user attr ``local_studio``.
Every command that opens the studio for a study (run and its baseline, confirm, ``best --apply``,
``cleanup``) asks :func:`studio_home` which data dir that is: the recorded one, whatever the working
directory; ``SWEEP_DATA_DIR`` only when it names the same studio (which may have moved). A command that
would use another studio (another data dir, or another machine's studio on a shared storage) is refused
before anything is created, naming both. A study that ran before studios were recorded uses the data dir
it resolves to now (the relative default from the working directory, as before), once it is seen to hold
the study's clones, and records it (:func:`record_home`, which says so once).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from pydantic import BaseModel, ConfigDict, ValidationError

from sweep.errors import SettingsError, SweepError, UsageError
from sweep.local.identity import StudioIdentity, holds_studio, read_identity
from sweep.session.clones import SlotsRecord, read_slots
from sweep.settings import Settings
from sweep.study.spec import StudySpec

__all__ = ["LOCAL_STUDIO_ATTR", "StudioHome", "StudioRecord", "read_record", "record_home", "studio_home"]

LOCAL_STUDIO_ATTR = "local_studio"
_NEW_STUDY = "run a new study there (another name or storage)"


class StudioRecord(BaseModel):
    """What a study records of its local studio: the studio's id, its data dir (absolute) and the host that made it."""

    model_config = ConfigDict(frozen=True)

    id: str
    data_dir: str
    host: str = ""

    def describe(self) -> str:
        made = f", made on {self.host}" if self.host else ""
        return f"the local studio at {self.data_dir} (id {self.id[:8]}{made})"


@dataclass(frozen=True)
class StudioHome:
    """The data dir a command uses for its study, and what the study had recorded when the command began."""

    data_dir: Path
    recorded: StudioRecord | None = None
    old_study: bool = False  # the study ran before studios were recorded: the record is made now, and said
    note: str | None = None  # where the studio is, when that is not where the working directory would say


def read_record(study: optuna.Study) -> StudioRecord | None:
    """The local studio the study recorded, None when it recorded none (a new study, or one from before)."""
    raw: Any = study.user_attrs.get(LOCAL_STUDIO_ATTR)
    try:
        return StudioRecord.model_validate(raw) if raw is not None else None
    except ValidationError:
        return None


def studio_home(spec: StudySpec, study: optuna.Study | None, settings: Settings) -> StudioHome:
    """The data dir of the local studio ``study`` uses (None: a study not made yet); reads only.

    Raises :class:`UsageError` (exit 2) when the studio this command would use is not the one the study
    recorded, or, for a study from before records, when the data dir at hand does not hold its clones."""
    named = "data_dir" in settings.model_fields_set  # SWEEP_DATA_DIR (or the Python API's settings) said it
    here = Path(settings.data_dir).expanduser().resolve()
    record = read_record(study) if study is not None else None
    if record is None:
        if study is not None:
            _check_unrecorded(spec, study, here, named)
        return StudioHome(here, None, old_study=study is not None)
    recorded = Path(record.data_dir)
    candidates = [here] if named else list(dict.fromkeys([recorded, here]))  # here: the studio moved to here
    for candidate in candidates:
        identity = read_identity(candidate)
        if identity is not None and identity.id == record.id:
            note = None if candidate == here else (f"local studio: {candidate}, as study {spec.name!r} recorded "
                                                   f"(not {here}, this directory's default)")
            return StudioHome(candidate, record, note=note)
    if named:
        raise SettingsError("SWEEP_DATA_DIR", f"names {_describe(here)}, but study {spec.name!r} runs on "
                            f"{record.describe()}, as it recorded: a study's clones, jobs and models live in one "
                            f"local studio. Unset SWEEP_DATA_DIR (every command finds that studio from any "
                            f"directory), or {_NEW_STUDY}")
    raise UsageError(f"study {spec.name!r} runs on {record.describe()}, as it recorded, but {_describe(recorded)}. "
                     "If that studio moved, point SWEEP_DATA_DIR at its new data dir; or run a new study on another "
                     "local studio (another name or storage)")


def record_home(spec: StudySpec, study: optuna.Study, home: StudioHome, identity: StudioIdentity) -> str | None:
    """Record the studio a command connected to on ``study``; the line to tell the user when that is news (a
    study from before records, or a studio that moved), else None. Refuses a studio another worker of the
    study recorded meanwhile."""
    record = StudioRecord(id=identity.id, data_dir=str(home.data_dir), host=identity.host)
    expected = home.recorded or read_record(study)  # read_record: another worker may have recorded it meanwhile
    if expected is not None and expected.id != record.id:
        raise UsageError(f"study {spec.name!r} runs on {expected.describe()}, as it recorded, but this command "
                         f"connected to {record.describe()}; {_NEW_STUDY}")
    if expected == record:
        return None
    study.set_user_attr(LOCAL_STUDIO_ATTR, record.model_dump())
    if expected is not None:
        return (f"study {spec.name!r}: its local studio (id {record.id[:8]}) moved from {expected.data_dir} to "
                f"{home.data_dir}; recorded")
    if home.old_study:
        return (f"study {spec.name!r} ran before sweep recorded the local studio of a study: recorded now, "
                f"{home.data_dir} (id {record.id[:8]}); every later command uses it, from any directory")
    return None


def _describe(path: Path) -> str:
    """What is at ``path``, as a local studio, for a refusal."""
    identity = read_identity(path)
    if identity is not None:
        made = f", made on {identity.host}" if identity.host else ""
        return f"the local studio at {path} (id {identity.short}{made})"
    if holds_studio(path):
        return f"{path}, a local studio without an identity yet"
    return f"{path}, which does not exist" if not path.exists() else f"{path}, which holds no local studio"


def _check_unrecorded(spec: StudySpec, study: optuna.Study, here: Path, named: bool) -> None:
    """A study from before records: the data dir at hand must hold its local studio (and its clones, if any)."""
    slots = read_slots(study)
    if slots is None and not study.get_trials(deepcopy=False):
        return  # it never used a studio: it records the one it uses now
    where = "SWEEP_DATA_DIR" if named else "the default .sweep/studio of this directory"
    problem = None
    if not holds_studio(here):
        problem = f"{here} ({where}) holds no local studio"
    elif slots is not None and slots.clones and not _clones_there(spec, here, slots):
        names = ", ".join(f"{c.impulse_id} {c.name!r}" for c in slots.clones.values())
        problem = f"the local studio at {here} ({where}) does not hold its clones (impulses {names})"
    if problem is not None:
        raise UsageError(f"study {spec.name!r} ran before sweep recorded the local studio of a study, and {problem}: "
                         "run it from the directory it first ran in, or point SWEEP_DATA_DIR at that studio's data "
                         "dir; that command records the studio, and every later one finds it from any directory")


def _clones_there(spec: StudySpec, data_dir: Path, slots: SlotsRecord) -> bool:
    """Does the local project at ``data_dir`` hold at least one of the study's recorded clones (same id and name)?"""
    from sweep.local.datasets import peek_project
    from sweep.local.impulses import ImpulseBook

    target = spec.target
    if target.kind != "local":
        return False
    try:
        impulses = ImpulseBook(data_dir).all(peek_project(data_dir, target.project))
    except SweepError:
        return False
    there = {(int(i.get("id", 0)), str(i.get("name", ""))) for i in impulses}
    return any((c.impulse_id, c.name) in there for c in slots.clones.values())
