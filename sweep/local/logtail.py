"""Read a job's log incrementally: each read gives the lines completed since the last one, once each.

The log is ``ISO-time<TAB>line`` per line (see :func:`sweep.local.store.append_log`), appended by the manager and
by worker processes. A read stops at the last newline, so a line still being written is left for the next read;
the lines are split as :func:`sweep.local.store.read_log` splits them, so a follower sees what the stdout route
shows, in the same order.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["LogTail"]


class LogTail:
    """The log at ``path`` from byte ``offset`` on (a missing file reads as empty: the job has not logged yet)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def read(self) -> list[str]:
        """The data of every line completed since the previous read (no timestamp, no newline)."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        text = chunk[:end + 1].decode("utf-8", errors="replace")
        return [line.partition("\t")[2] for line in text.splitlines()]
