"""How a study's run ended, in one line for people and one record for code: RunResult and its outcome text."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweep.run.tally import RunSummary

__all__ = ["RunResult", "counts_text", "outcome_text", "summary_from"]

INTERRUPTED = 130


@dataclass(frozen=True)
class RunResult:
    """One study's ``sweep run``: its exit code (0 done, 1 stopped, 2 bad input, 3 refused key, 130 interrupted),
    what happened in one line, this run's counts and the study's, its best trials and its report."""

    study: str | None  # None: the file did not load
    file: Path
    exit_code: int
    outcome: str
    summary: RunSummary = field(default_factory=RunSummary)
    complete_in_study: int = 0
    best: list[dict[str, Any]] = field(default_factory=list)  # [{"trial": n, "values": [...]}], in trial order
    report: Path | None = None
    error: str | None = None  # the error's message, when the run ended with one

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def record(self) -> dict[str, Any]:
        """The ``batch_done`` event's entry for this study."""
        return {"study": self.study, "file": str(self.file), "exit_code": self.exit_code, "outcome": self.outcome}


def counts_text(summary: RunSummary, complete_in_study: int) -> str:
    """``5 completed, 0 failed, 0 reused, 0 re-attached in this run; 5 complete in the study``, with what the
    baseline did in this run, when it trained (``...; the baseline: 1 re-attached, 1 completed; ...``)."""
    return (f"{summary.completed} completed, {summary.failed} failed, "
            + (f"{summary.pruned} pruned, " if summary.pruned else "") + f"{summary.reused} reused, "
            f"{summary.reattached} re-attached in this run; " + _baseline_text(summary.baseline)
            + f"{complete_in_study} complete in the study")


def _baseline_text(baseline: RunSummary | None) -> str:
    """The baseline's counts in this run, those that are not 0 (re-attached first: it began so)."""
    if baseline is None:
        return ""
    counts = [(baseline.reattached, "re-attached"), (baseline.completed, "completed"), (baseline.failed, "failed"),
              (baseline.left, "left running")]
    shown = [f"{n} {word}" for n, word in counts if n]
    return f"the baseline: {', '.join(shown)}; " if shown else ""


def outcome_text(exit_code: int, summary: RunSummary | None, complete_in_study: int = 0,
                 error: str | None = None) -> str:
    """What happened, in one line: ``done: ...``, ``interrupted: ...``, or the error (``summary`` None: the run
    never started)."""
    if summary is None:
        return f"error: {error}" if error else f"ended with exit code {exit_code} before its run started"
    counts = counts_text(summary, complete_in_study)
    if exit_code == 0:
        return f"done: {counts}" + (f" ({summary.stopped_reason})" if summary.stopped_reason else "")
    if exit_code == INTERRUPTED:
        jobs = summary.left + (summary.baseline.left if summary.baseline is not None else 0)
        left = (f"; {jobs} job(s) left running, their trials RUNNING for the next run to re-attach"
                if jobs else "; running jobs cancelled, their trials recorded")
        return f"interrupted: {counts}{left}"
    return f"stopped: {error or summary.stopped_reason or f'exit code {exit_code}'}; {counts}"


def summary_from(record: Mapping[str, Any]) -> RunSummary:
    """A RunSummary from a ``study_done`` event's ``summary`` (unknown keys ignored, missing ones 0)."""
    names = {f.name for f in dataclasses.fields(RunSummary)}
    given = {k: v for k, v in record.items() if k in names and v is not None}
    if isinstance(given.get("baseline"), Mapping):
        given["baseline"] = summary_from(given["baseline"])
    return RunSummary(**given)
