"""Study storage: resolve a storage URL (default: a journal file next to the study) into Optuna's."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

from sweep.errors import SettingsError

__all__ = ["default_storage_url", "load_or_create", "open_storage", "redact_url"]

_JOURNAL = "journal:"
_SCHEMA_ATTEMPTS = 5


def default_storage_url(study_file: Path, name: str, state_dir: Path | None = None) -> str:
    """A journal file several processes on one machine can share (Optuna's FAQ advice)."""
    folder = state_dir if state_dir is not None else study_file.resolve().parent / ".sweep"
    return f"{_JOURNAL}{folder / (name + '.journal')}"


def open_storage(url: str) -> BaseStorage:
    """``journal:PATH`` or a path ending in ``.journal`` -> JournalStorage; else any RDB URL."""
    if url.startswith(_JOURNAL) or url.endswith((".journal", ".log")) and "://" not in url:
        path = Path(url[len(_JOURNAL):] if url.startswith(_JOURNAL) else url).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = JournalFileOpenLock(str(path))
        return JournalStorage(JournalFileBackend(str(path), lock_obj=lock))
    if "://" not in url:
        raise SettingsError("storage", f"not a storage URL: {url!r} (use journal:PATH, sqlite:///PATH or postgresql://...)")
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


def _engine_kwargs(url: str) -> dict[str, object]:
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
    existing = [d.name.lower() for d in study.directions]
    if existing != [d.lower() for d in directions]:
        raise SettingsError("objectives", f"study {name!r} in this storage has directions {existing}, "
                            f"the study file says {directions}; use another name or storage")
    return study
