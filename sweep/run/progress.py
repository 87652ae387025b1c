"""Live progress of a sweep on stderr: one line per event, and a refreshing status line on a TTY."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

__all__ = ["Progress"]


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """Thread-safe printer of trial events; ``quiet`` keeps only failures and the summary."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.live = bool(getattr(self.stream, "isatty", lambda: False)()) and not quiet
        self._lock = threading.Lock()
        self._status: dict[int, str] = {}
        self._best = ""
        self._started = time.monotonic()

    def _emit(self, line: str) -> None:
        with self._lock:
            if self.live:
                self.stream.write("\r\x1b[2K")
            self.stream.write(line + "\n")
            if self.live and self._status:
                self.stream.write(self._status_line())
            self.stream.flush()

    def _status_line(self) -> str:
        running = " | ".join(self._status[k] for k in sorted(self._status))
        return f"[{_clock(time.monotonic() - self._started)}] {running}{'  best ' + self._best if self._best else ''}"

    def info(self, message: str) -> None:
        if not self.quiet:
            self._emit(message)

    def warn(self, message: str) -> None:
        self._emit(message)

    def running(self, trial: int, label: str, job_id: int | None, learn_id: int, state: str, elapsed_s: float
                ) -> None:
        """Refresh the live line of a running trial (only drawn on a TTY)."""
        job = f" job {job_id}" if job_id is not None else ""
        with self._lock:
            self._status[trial] = f"{label} {state}{job} @block {learn_id} {_clock(elapsed_s)}"
            if self.live:
                self.stream.write("\r\x1b[2K" + self._status_line())
                self.stream.flush()

    def done(self, trial: int) -> None:
        with self._lock:
            self._status.pop(trial, None)

    def best(self, text: str) -> None:
        with self._lock:
            self._best = text
