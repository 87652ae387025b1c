"""Job log lines -> what they say: per-epoch curves (best effort, for pruning) and why a job failed (pure).

Studio's log route gives the newest line first; these functions take lines oldest first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["curves_from_log", "failure_reason", "first_epoch"]

_CURVE_NAMES = {"loss", "accuracy", "val_loss", "val_accuracy"}
_EPOCH = re.compile(r"\bEpoch\s+(\d+)\s*/\s*(\d+)")
_PAIR = re.compile(r"\b(val_loss|val_accuracy|loss|accuracy)\s*:\s*([-+0-9.eE]+|nan)")


def curves_from_log(lines_oldest_first: list[str]) -> dict[str, list[float]]:
    """Best-effort per-epoch curves from Keras-style log lines; never used for final results.

    An epoch's values are the last ``name: value`` pairs seen after its ``Epoch i/n`` line.
    """
    epochs: dict[int, dict[str, float]] = {}
    current: int | None = None
    for line in lines_oldest_first:
        for raw in line.splitlines() or [line]:
            m = _EPOCH.search(raw)
            if m:
                current = int(m.group(1))
                epochs.setdefault(current, {})
            if current is None:
                continue
            for name, value in _PAIR.findall(raw):
                try:
                    epochs[current][name] = float(value)
                except ValueError:
                    continue
    curves: dict[str, list[float]] = {}
    for epoch in sorted(epochs):
        for name in _CURVE_NAMES:
            if name in epochs[epoch]:
                curves.setdefault(name, []).append(epochs[epoch][name])
    return curves


def last_epoch(lines_oldest_first: list[str]) -> tuple[int, int] | None:
    """(i, n) of the last ``Epoch i/n`` line: the epoch a running job is in (None before the first)."""
    for line in reversed(lines_oldest_first):
        m = _EPOCH.search(line)
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


def first_epoch(lines_oldest_first: list[str]) -> int | None:
    """The number of the first ``Epoch i/n`` line (None when there is none): 1 unless lines are missing."""
    for line in lines_oldest_first:
        m = _EPOCH.search(line)
        if m:
            return int(m.group(1))
    return None


# What marks a line as saying why a job failed, strongest first: the server's own verdict, an
# exception (the last line of a traceback), an error/fatal mark, then the kernel's OOM killer.
_VERDICT = re.compile(r"^\s*(?:Job|Training) failed\b\s*[:.-]?\s*(?P<why>.*)$", re.IGNORECASE)
_EXCEPTION = re.compile(r"^\s*(?P<why>(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit|Interrupt)\b:?.*)$")
_MARKED = re.compile(r"^(?P<why>\s*(?:\[?(?:ERROR|ERR|FATAL|CRITICAL)\]?\b|Failed to |Error:).*)$")
_OOM = re.compile(r"\b(?:Killed|out of memory|OOM|MemoryError)\b", re.IGNORECASE)
_TRACE_FRAME = re.compile(r"^(?:\s+(?:File \"|\^|~)|Traceback \(most recent call last\))")


def failure_reason(lines_oldest_first: Sequence[str], error_lines: Sequence[str] = ()) -> str | None:
    """Why a job failed, from its log: the newest verdict line (``Job failed: ...``), else the newest
    exception line, else an ``ERROR``-marked line, else an out-of-memory kill; ``error_lines`` (lines the
    server itself flagged as errors, oldest first) are read first, and the newest of them is the reason
    when no pattern matches. None when no line says why: then the
    caller says so plainly; the log's last line (an epoch's numbers, often) is never the reason."""
    for flagged, group in ((True, error_lines), (False, lines_oldest_first)):
        lines = [line.rstrip() for line in group if line.strip() and not _TRACE_FRAME.match(line)]
        for pattern in (_VERDICT, _EXCEPTION, _MARKED):
            for line in reversed(lines):
                m = pattern.match(line)
                if m and m.group("why").strip():
                    return _tidy(m.group("why"))
        for line in reversed(lines):
            if flagged or _OOM.search(line):
                return _tidy(line)
    return None


def _tidy(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
