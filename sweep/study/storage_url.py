"""What a study's storage URL may be, checked without opening it: a journal file, or a database URL
whose SQLAlchemy dialect and driver are installed. Part of a study file's validation."""

from __future__ import annotations

from pathlib import Path

from sweep.errors import install_hint

__all__ = ["JOURNAL", "journal_path", "redact_url", "storage_problem"]

JOURNAL = "journal:"
KINDS = "use journal:PATH, sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"


def journal_path(url: str) -> Path | None:
    """The journal file of a journal URL, or None for a database URL."""
    if url.startswith(JOURNAL):
        return Path(url[len(JOURNAL):]).expanduser()
    if url.endswith((".journal", ".log")) and "://" not in url:
        return Path(url).expanduser()
    return None


def storage_problem(url: str) -> str | None:
    """Why ``url`` cannot hold a study (unknown scheme, driver not installed, malformed), or None.

    Nothing is connected to or created; a database URL's SQLAlchemy dialect and driver are imported.
    """
    journal = journal_path(url)
    if journal is not None:
        if url.startswith(JOURNAL) and not url[len(JOURNAL):].strip():
            return f"journal: needs a file path, e.g. journal:.sweep/study.journal; {KINDS}"
        if journal.is_dir():
            return "the journal path is a directory; name a file, e.g. journal:.sweep/study.journal"
        return None
    if "://" not in url:
        return f"not a storage URL: {KINDS}"
    from sqlalchemy.engine import make_url  # here: journal runs never import SQLAlchemy
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        return f"not a valid database URL ({type(exc).__name__}: {_no_secrets(str(exc), url)}); {KINDS}"
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        return f"unknown storage scheme {parsed.drivername!r}: {KINDS}"
    except (ImportError, ValueError) as exc:
        return f"the database driver for {parsed.drivername!r} cannot be loaded ({type(exc).__name__})"
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        return (f"the database driver for {parsed.drivername!r} is not installed (Python module {missing!r}); "
                f"for PostgreSQL install the postgres extra ({install_hint('postgres')}) and use postgresql+psycopg://")
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        return "an in-memory SQLite database keeps nothing after the command ends: give a file, sqlite:///PATH"
    return None


def _no_secrets(text: str, url: str) -> str:
    redacted = redact_url(url)
    return text.replace(url, redacted) if redacted != url else text


def redact_url(url: str) -> str:
    """A storage URL with any password replaced, for messages."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url
