"""Study storage: check a storage URL without connecting, find a study without creating anything, open Optuna's.

A URL is one of ``journal:PATH`` (or a path ending in ``.journal``/``.log``), Optuna's
``JournalFileBackend``; or a SQLAlchemy database URL for Optuna's ``RDBStorage``
(``sqlite:///PATH``, ``postgresql+psycopg://...``). :func:`storage_problem` says what is wrong
with one (scheme, driver, shape) before anything is opened; :func:`peek_storage` opens only a
storage that already exists, so a refused command leaves no journal file, SQLite file or schema.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

from sweep.errors import SettingsError

__all__ = [
    "check_directions",
    "check_storage_url",
    "default_storage_url",
    "existing_study",
    "load_or_create",
    "open_storage",
    "peek_storage",
    "redact_url",
    "storage_problem",
]

_JOURNAL = "journal:"
_SCHEMA_ATTEMPTS = 5
_KINDS = "use journal:PATH, sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"


def default_storage_url(study_file: Path, name: str, state_dir: Path | None = None) -> str:
    """A journal file several processes on one machine can share (Optuna's FAQ advice)."""
    folder = state_dir if state_dir is not None else study_file.resolve().parent / ".sweep"
    return f"{_JOURNAL}{folder / (name + '.journal')}"


def _journal_path(url: str) -> Path | None:
    """The journal file of a journal URL, or None for a database URL."""
    if url.startswith(_JOURNAL):
        return Path(url[len(_JOURNAL):]).expanduser()
    if url.endswith((".journal", ".log")) and "://" not in url:
        return Path(url).expanduser()
    return None


def storage_problem(url: str) -> str | None:
    """Why ``url`` cannot hold a study (unknown scheme, driver not installed, malformed), or None.

    Nothing is connected to or created; a database URL's SQLAlchemy dialect and driver are imported.
    """
    journal = _journal_path(url)
    if journal is not None:
        if url.startswith(_JOURNAL) and not url[len(_JOURNAL):].strip():
            return f"journal: needs a file path, e.g. journal:.sweep/study.journal; {_KINDS}"
        if journal.is_dir():
            return "the journal path is a directory; name a file, e.g. journal:.sweep/study.journal"
        return None
    if "://" not in url:
        return f"not a storage URL: {_KINDS}"
    from sqlalchemy.engine import make_url  # here: journal runs never import SQLAlchemy
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        return f"not a valid database URL ({type(exc).__name__}: {_no_secrets(str(exc), url)}); {_KINDS}"
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        return f"unknown storage scheme {parsed.drivername!r}: {_KINDS}"
    except (ImportError, ValueError) as exc:
        return f"the database driver for {parsed.drivername!r} cannot be loaded ({type(exc).__name__})"
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        return (f"the database driver for {parsed.drivername!r} is not installed (Python module {missing!r}); "
                "for PostgreSQL install the postgres extra and use postgresql+psycopg://")
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        return "an in-memory SQLite database keeps nothing after the command ends: give a file, sqlite:///PATH"
    return None


def check_storage_url(url: str, field: str) -> str:
    """``url`` itself, or SettingsError naming ``field`` (the flag or variable it came from)."""
    problem = storage_problem(url)
    if problem is not None:
        raise SettingsError(field, f"{problem} (got {redact_url(url)!r})")
    return url


def _no_secrets(text: str, url: str) -> str:
    redacted = redact_url(url)
    return text.replace(url, redacted) if redacted != url else text


def open_storage(url: str) -> BaseStorage:
    """The Optuna storage at ``url``, created if missing (a journal file's folder too)."""
    journal = _journal_path(url)
    if journal is not None:
        journal.parent.mkdir(parents=True, exist_ok=True)
        return _journal_storage(journal)
    if problem := storage_problem(url):
        raise SettingsError("storage", f"{problem} (got {redact_url(url)!r})")
    from sqlalchemy.exc import IntegrityError, ProgrammingError  # here: journal runs never import SQLAlchemy

    for attempt in range(_SCHEMA_ATTEMPTS):
        try:
            return RDBStorage(url, engine_kwargs=_engine_kwargs(url))
        except (ImportError, ModuleNotFoundError) as exc:
            raise SettingsError("storage", f"{redact_url(url)}: driver not installed ({exc.name})") from None
        except (IntegrityError, ProgrammingError) as exc:
            # Several workers creating the schema of an empty database at once: the losers see the
            # winner's tables (or version row) as duplicates; on retry create_all finds them in place.
            if attempt + 1 == _SCHEMA_ATTEMPTS:
                raise SettingsError("storage", f"cannot open {redact_url(url)}: {type(exc).__name__}") from None
            time.sleep(0.2 * (attempt + 1))
        except Exception as exc:  # SQLAlchemy's OperationalError etc.: report without the password
            raise SettingsError("storage", f"cannot open {redact_url(url)}: {type(exc).__name__}") from None
    raise AssertionError("unreachable")


def peek_storage(url: str) -> BaseStorage | None:
    """The storage at ``url`` if it already exists (a journal or SQLite file, a database with Optuna's
    tables), else None; never creates a file or a schema."""
    journal = _journal_path(url)
    if journal is not None:
        return _journal_storage(journal) if journal.is_file() else None
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url

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
    except Exception as exc:  # OperationalError etc.: report without the password
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


def redact_url(url: str) -> str:
    """A storage URL with any password replaced, for messages."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def load_or_create(storage: BaseStorage, name: str, directions: list[str], sampler: optuna.samplers.BaseSampler,
                   pruner: optuna.pruners.BasePruner | None = None) -> optuna.Study:
    """Open the study or create it; directions must match an existing study's."""
    study = optuna.create_study(storage=storage, study_name=name, directions=directions,
                                sampler=sampler, pruner=pruner, load_if_exists=True)
    check_directions(study, directions)
    return study


def check_directions(study: optuna.Study, directions: list[str]) -> None:
    """SettingsError unless ``study`` optimises in ``directions``."""
    existing = [d.name.lower() for d in study.directions]
    if existing != [d.lower() for d in directions]:
        raise SettingsError("objectives", f"study {study.study_name!r} in this storage has directions {existing}, "
                            f"the study file says {directions}; use another name or storage")
