"""The compute a study spent, as the project's quota counts it: every job the sweep started, once.

Studio's quota counts each job's ``computeTime``: train jobs, the profiling jobs they start, feature
generation. A study is charged with all of them, whatever started them: its trials, its slots' set-up, its
baseline and confirmation repeats (side studies), ``sweep best --apply --train``, and any later command, all
through one function, :func:`charge` (or an :class:`Account`, which names the study and the purpose once).

Each job is one study user attribute, ``compute:<job id>`` -> ``{"s": seconds or None, "kind", "for"}``,
keyed by the job id, so charging a job again (a re-attached trial, a profiling job seen twice, two workers)
replaces the entry and never adds to it; a job is charged with ``None`` when it is first followed, so one that
outlives its run is known and :func:`settle` reads its compute later. Trials keep their own job's compute
too (:mod:`sweep.session.records`): a study recorded before the ledger is counted from them, and
:func:`totals` merges both by job id.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import optuna

from sweep.errors import ApiError, ProtocolError, TransientError
from sweep.session.records import job_compute_s
from sweep.session.side import BASELINE, CONFIRM, side_study
from sweep.studio.backend import Jobs
from sweep.units import duration

__all__ = ["KINDS", "Account", "ComputeTotals", "Kind", "charge", "settle", "totals"]

log = logging.getLogger(__name__)

Kind = Literal["train", "features", "profiling"]
KINDS: tuple[Kind, ...] = ("train", "features", "profiling")
PREFIX = "compute:"
# What a job was for, as totals name it (the side studies' names are their own).
PURPOSES = {"study": "trials", "setup": "slot set-up", BASELINE: "baseline", CONFIRM: "confirm", "test": "test",
            "apply": "best --apply"}


def charge(study: optuna.Study, job_id: int, compute_s: float | None, kind: Kind, purpose: str) -> None:
    """Charge one job's compute to ``study`` (a study, never one of its side studies): the one way a command counts
    a job. ``compute_s`` None: the job is followed, its compute not known yet (a known figure is never undone)."""
    key = f"{PREFIX}{int(job_id)}"
    old = study.user_attrs.get(key)
    if compute_s is None and isinstance(old, dict) and old.get("s") is not None:
        return
    entry = {"s": None if compute_s is None else round(float(compute_s), 3), "kind": kind, "for": purpose}
    if old != entry:
        study.set_user_attr(key, entry)


@dataclass(frozen=True)
class Account:
    """Where a command's jobs are charged: the study and what for (``study``, ``setup``, ``baseline``,
    ``confirm``, ``test``, ``apply``)."""

    study: optuna.Study
    purpose: str

    def charge(self, job_id: int, compute_s: float | None, kind: Kind) -> None:
        charge(self.study, job_id, compute_s, kind, self.purpose)


def _ledger(study: optuna.Study) -> dict[int, dict[str, Any]]:
    return {int(key[len(PREFIX):]): value for key, value in study.user_attrs.items()
            if key.startswith(PREFIX) and isinstance(value, dict)}


def _trial_jobs(study: optuna.Study) -> Iterator[tuple[int, float | None, str]]:
    """(job id, its compute, what for) of each trial's own job: the study's, its baseline's, its repeats'."""
    studies: list[tuple[str, optuna.Study | None]] = [("study", study)]
    studies += [(BASELINE, side_study(study, BASELINE)), (CONFIRM, side_study(study, CONFIRM))]
    for purpose, one in studies:
        for t in one.get_trials(deepcopy=False) if one is not None else []:
            job = t.user_attrs.get("job_id")
            if job is not None and "duplicate_of" not in t.user_attrs:
                yield int(job), job_compute_s(t), purpose


@dataclass(frozen=True)
class ComputeTotals:
    """A study's compute: each job once, by kind and by what it was for."""

    by_kind: dict[str, float] = field(default_factory=dict)
    by_purpose: dict[str, float] = field(default_factory=dict)
    train_s: list[float] = field(default_factory=list)  # each train job's compute
    jobs: int = 0  # jobs whose compute is known
    unknown: int = 0  # jobs followed whose compute is not known yet (running, or left by a run that died)

    @property
    def total_s(self) -> float:
        return float(sum(self.by_kind.values()))

    @property
    def per_training_s(self) -> float | None:
        """What one more training is expected to cost: the median train job, plus its share of the profiling
        and feature jobs that came with the trainings (slot set-up aside: it happens once). None: none yet."""
        if not self.train_s:
            return None
        extra = self.total_s - sum(self.train_s) - self.by_purpose.get("setup", 0.0)
        return statistics.median(self.train_s) + max(extra, 0.0) / len(self.train_s)

    def text(self) -> str:
        """``4.2 min over 12 job(s): train 3.5 min, features 30 s, profiling 12 s; of it baseline 20 s, ...``."""
        kinds = ", ".join(f"{k} {duration(self.by_kind[k])}" for k in KINDS if self.by_kind.get(k))
        order = [*PURPOSES, *sorted(set(self.by_purpose) - set(PURPOSES))]
        parts = ", ".join(f"{PURPOSES.get(p, p)} {duration(self.by_purpose[p])}" for p in order
                          if p != "study" and self.by_purpose.get(p))
        out = f"{duration(self.total_s)} over {self.jobs} job(s)" + (f": {kinds}" if kinds else "")
        out += f"; of it {parts}" if parts else ""
        return out + (f"; {self.unknown} job(s) still running or not known yet" if self.unknown else "")


def totals(study: optuna.Study) -> ComputeTotals:
    """The study's compute: its ledger, and its trials' own jobs (merged by job id, so each job counts once)."""
    jobs = _ledger(study)
    for job_id, cost, purpose in _trial_jobs(study):
        entry = jobs.get(job_id)
        if entry is None or (entry.get("s") is None and cost is not None):
            jobs[job_id] = {"s": cost, "kind": "train", "for": purpose}
    by_kind: dict[str, float] = {}
    by_purpose: dict[str, float] = {}
    train: list[float] = []
    known = unknown = 0
    for entry in jobs.values():
        if entry.get("s") is None:
            unknown += not entry.get("gone")
            continue
        known += 1
        s, kind, purpose = float(entry["s"]), str(entry.get("kind", "train")), str(entry.get("for", "study"))
        by_kind[kind] = by_kind.get(kind, 0.0) + s
        by_purpose[purpose] = by_purpose.get(purpose, 0.0) + s
        if kind == "train":
            train.append(s)
    return ComputeTotals(by_kind, by_purpose, train, known, unknown)


def settle(study: optuna.Study, jobs: Jobs) -> int:
    """Read the compute of the jobs charged as followed but never as finished (their run died, or left them
    running) that have finished since; how many were settled. A job the server no longer knows is marked gone."""
    settled = 0
    for job_id, entry in _ledger(study).items():
        if entry.get("s") is not None or entry.get("gone"):
            continue
        try:
            job = jobs.job_status(job_id)
        except ApiError as exc:
            if exc.status_code == 404:
                study.set_user_attr(f"{PREFIX}{job_id}", {**entry, "gone": True})
            continue
        except (ProtocolError, TransientError) as exc:
            log.warning("compute of job %s not read: %s", job_id, exc)
            continue
        if job.finished is not None:
            kind: Kind = entry["kind"] if entry.get("kind") in KINDS else "train"
            charge(study, job_id, job.compute_time or 0.0, kind, str(entry.get("for", "study")))
            settled += 1
    return settled
