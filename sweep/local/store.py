"""On-disk state of the local studio: jobs (job.json, log), learn block configs and models."""

from __future__ import annotations

import json
import os
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sweep.local.record import JobRecord

__all__ = ["Store", "atomic_write_json", "iso", "load_or_create_api_key", "now", "read_json"]


def now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON so a reader (or a crash) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def append_log(path: Path, text: str) -> None:
    """Append log lines as ``ISO-time<TAB>line``; one write per call (O_APPEND keeps writers apart)."""
    stamp = now().isoformat()
    lines = text.splitlines() or [""]
    payload = "".join(f"{stamp}\t{line}\n" for line in lines)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(payload)


def read_log(path: Path) -> list[tuple[str, str]]:
    """All log lines, oldest first, as (created, data).

    The file's order is the order the lines were written; two writers (the server and a job's worker) take
    their stamps before their appends, so a stamp can come out a fraction of a millisecond before the line
    above it: such a stamp is raised to the one above, and ``created`` never goes back in file order."""
    try:
        raw = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    out = []
    latest: datetime | None = None
    for line in raw.splitlines():
        stamp, _, data = line.partition("\t")
        if stamp:
            try:
                when = datetime.fromisoformat(stamp)
            except ValueError:
                when = None
            if when is not None and latest is not None and when < latest:
                stamp, when = latest.isoformat(), latest
            latest = when or latest
        out.append((stamp, data))
    return out


def load_or_create_api_key(data_dir: Path) -> str:
    """SWEEP_LOCAL_API_KEY, else DATA/api_key (created at first start, mode 0600)."""
    env = os.environ.get("SWEEP_LOCAL_API_KEY")
    if env:
        return env
    path = data_dir / "api_key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    return key


class Store:
    """Paths and JSON records under the data dir; the job manager is its only writer of job.json."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.jobs_dir = data_dir / "jobs"
        self.blocks_dir = data_dir / "learn_blocks"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.blocks_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        ids = [int(p.name) for p in self.jobs_dir.iterdir() if p.name.isdigit()]
        self._next_id = max(ids, default=0) + 1

    # ---- jobs
    def new_job_id(self) -> int:
        with self._lock:
            job_id = self._next_id
            self._next_id += 1
            (self.jobs_dir / str(job_id)).mkdir(parents=True, exist_ok=False)
            return job_id

    def job_dir(self, job_id: int) -> Path:
        return self.jobs_dir / str(job_id)

    def save_job(self, record: JobRecord) -> None:
        atomic_write_json(self.job_dir(record.id) / "job.json", record.stored())

    def load_job(self, job_id: int) -> JobRecord | None:
        path = self.job_dir(job_id) / "job.json"
        try:
            return JobRecord.model_validate(read_json(path))
        except (FileNotFoundError, ValueError):  # pydantic's ValidationError is a ValueError
            return None

    def all_jobs(self) -> list[JobRecord]:
        out = []
        for p in self.jobs_dir.iterdir():
            if p.name.isdigit():
                rec = self.load_job(int(p.name))
                if rec is not None:
                    out.append(rec)
        return out

    def log_path(self, job_id: int) -> Path:
        return self.job_dir(job_id) / "log"

    def log(self, job_id: int, text: str) -> None:
        append_log(self.log_path(job_id), text)

    # ---- learn blocks
    def block_dir(self, project_id: int, learn_id: int) -> Path:
        return self.blocks_dir / str(project_id) / str(learn_id)

    def load_block(self, project_id: int, learn_id: int, name: str) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = read_json(self.block_dir(project_id, learn_id) / name)
            return data
        except (FileNotFoundError, ValueError):
            return None

    def save_block(self, project_id: int, learn_id: int, name: str, data: dict[str, Any]) -> None:
        atomic_write_json(self.block_dir(project_id, learn_id) / name, data)
