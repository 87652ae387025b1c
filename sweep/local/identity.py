"""A local studio's identity: an id made once, by the first server on its data dir, kept in ``DATA/studio.json``.

A study records the identity (and the data dir) of the local studio it runs on, so that a later command
finds the same studio from any working directory, and a data dir that holds another studio (made anew,
or another machine's at the same path) is told apart from it. A data dir made before identities existed
gets one the first time a server (or a run) uses it: no study can have recorded it before then.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from sweep.errors import LocalStudioError

__all__ = ["STUDIO_JSON", "StudioIdentity", "ensure_identity", "holds_studio", "read_identity"]

STUDIO_JSON = "studio.json"


class StudioIdentity(BaseModel):
    """``DATA/studio.json``: the studio's id, and the host and time it was made on (for messages)."""

    model_config = ConfigDict(frozen=True)

    id: str
    host: str = ""
    created: str = ""

    @property
    def short(self) -> str:
        """The id as people read it (the first 8 hex digits)."""
        return self.id[:8]


def read_identity(data_dir: Path) -> StudioIdentity | None:
    """The identity of the studio at ``data_dir``, None when it has none (yet) or the file is unreadable."""
    try:
        return StudioIdentity.model_validate_json((Path(data_dir) / STUDIO_JSON).read_bytes())
    except (OSError, ValidationError):
        return None


def ensure_identity(data_dir: Path) -> StudioIdentity:
    """The studio's identity, made now if it has none; two processes racing here agree on the first one made."""
    data_dir = Path(data_dir)
    found = read_identity(data_dir)
    if found is not None:
        return found
    made = StudioIdentity(id=uuid.uuid4().hex, host=socket.gethostname(), created=datetime.now(UTC).isoformat())
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / f".{STUDIO_JSON}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_text(json.dumps(made.model_dump(), indent=1) + "\n", encoding="utf-8")
    try:
        os.link(tmp, data_dir / STUDIO_JSON)  # fails if another process made it first: theirs stands
    except FileExistsError:
        pass
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    found = read_identity(data_dir)
    if found is None:
        raise LocalStudioError(f"cannot read back the local studio's identity {data_dir / STUDIO_JSON}")
    return found


def holds_studio(data_dir: Path) -> bool:
    """Does ``data_dir`` hold a local studio that has served (an identity, or the jobs folder of an older one)?"""
    return (Path(data_dir) / STUDIO_JSON).is_file() or (Path(data_dir) / "jobs").is_dir()
