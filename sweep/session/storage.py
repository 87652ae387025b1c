"""Study storage: find a study without creating anything, or open (and create) Optuna's storage for it.

A URL is one of ``journal:PATH`` (or a path ending in ``.journal``/``.log``), Optuna's
``JournalFileBackend``; or a SQLAlchemy database URL for Optuna's ``RDBStorage``
(``sqlite:///PATH``, ``postgresql+psycopg://...``); :mod:`sweep.study.storage_url` says what is
wrong with one before anything is opened. :func:`peek_storage` opens only a storage that already
exists, so a refused command leaves no journal file, SQLite file or schema.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.study import StudyDirection

from sweep.errors import SettingsError, install_hint
from sweep.study.storage_url import JOURNAL, journal_path, redact_url, storage_problem

__all__ = [
    "check_directions",
    "check_storage_url",
    "default_storage_url",
    "existing_study",
    "load_or_create",
    "open_storage",
    "peek_storage",
]

_SCHEMA_ATTEMPTS = 5


def default_storage_url(study_file: Path, name: str, state_dir: Path | None = None) -> str:
    """A journal file several processes on one machine can share (Optuna's FAQ advice)."""
    folder = state_dir if state_dir is not None else study_file.resolve().parent / ".sweep"
    return f"{JOURNAL}{folder / (name + '.journal')}"


def check_storage_url(url: str, field: str) -> str:
    """``url`` itself, or SettingsError naming ``field`` (the flag or variable it came from)."""
    problem = storage_problem(url)
    if problem is not None:
        raise SettingsError(field, f"{problem} (got {redact_url(url)!r})")
    return url


def open_storage(url: str) -> BaseStorage:
    """The Optuna storage at ``url``, created if missing (a journal file's folder too)."""
    journal = journal_path(url)
    if journal is not None:
        journal.parent.mkdir(parents=True, exist_ok=True)
        return _journal_storage(journal)
    if problem := storage_problem(url):
        raise SettingsError("storage", f"{problem} (got {redact_url(url)!r})")
    from sqlalchemy.exc import IntegrityError, ProgrammingError, SQLAlchemyError  # journal runs never import it

    for attempt in range(_SCHEMA_ATTEMPTS):
        try:
            return RDBStorage(url, engine_kwargs=_engine_kwargs(url))
        except (ImportError, ModuleNotFoundError) as exc:
            raise SettingsError("storage", f"{redact_url(url)}: driver not installed ({exc.name}); for PostgreSQL: "
                                           f"{install_hint('postgres')}") from None
        except (IntegrityError, ProgrammingError) as exc:
            # Several workers creating the schema of an empty database at once: the losers see the
            # winner's tables (or version row) as duplicates; on retry create_all finds them in place.
            if attempt + 1 == _SCHEMA_ATTEMPTS:
                raise SettingsError("storage", f"cannot open {redact_url(url)}: {type(exc).__name__}") from None
            time.sleep(0.2 * (attempt + 1))
        except (SQLAlchemyError, OSError, ValueError) as exc:  # OperationalError etc.: without the password
            raise SettingsError("storage", f"cannot open {redact_url(url)}: {type(exc).__name__}") from None
    raise AssertionError("unreachable")


def peek_storage(url: str) -> BaseStorage | None:
    """The storage at ``url`` if it already exists (a journal or SQLite file, a database with Optuna's
    tables), else None; never creates a file or a schema."""
    journal = journal_path(url)
    if journal is not None:
        return _journal_storage(journal) if journal.is_file() else None
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        return None
    try:
        engine = create_engine(url, **_engine_kwargs(url))
        try:
            with engine.connect() as connection:
                known = inspect(connection).has_table("studies")
        finally:
            engine.dispose()
    except (SQLAlchemyError, OSError, ValueError) as exc:  # OperationalError etc.: without the password
        raise SettingsError("storage", f"cannot open {redact_url(url)}: {type(exc).__name__}") from None
    return open_storage(url) if known else None


def existing_study(storage: BaseStorage | None, name: str) -> optuna.Study | None:
    """The study named ``name`` in ``storage``, or None (nothing is created)."""
    if storage is None:
        return None
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        return None
    return optuna.load_study(study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler())


def _journal_storage(path: Path) -> JournalStorage:
    return JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Several processes on one SQLite file: wait for the lock instead of failing at once.
        return {"connect_args": {"timeout": 60}}
    return {"pool_pre_ping": True}


def load_or_create(storage: BaseStorage, name: str, directions: list[str], sampler: optuna.samplers.BaseSampler,
                   pruner: optuna.pruners.BasePruner | None = None) -> optuna.Study:
    """Open the study or create it; directions must match an existing study's."""
    wanted = [StudyDirection[d.upper()] for d in directions]
    study = optuna.create_study(storage=storage, study_name=name, directions=wanted, sampler=sampler, pruner=pruner,
                                load_if_exists=True)
    check_directions(study, directions)
    return study


def check_directions(study: optuna.Study, directions: list[str]) -> None:
    """SettingsError unless ``study`` optimises in ``directions``."""
    existing = [d.name.lower() for d in study.directions]
    if existing != [d.lower() for d in directions]:
        raise SettingsError("objectives", f"study {study.study_name!r} in this storage has directions {existing}, "
                            f"the study file says {directions}; use another name or storage")
