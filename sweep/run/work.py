"""One trial this worker runs: fresh from ``study.ask``, or re-attached to the job a dead worker left."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import optuna

from sweep.run.curve import CurveWatch
from sweep.study.request import TrainRequest

__all__ = ["TrialRun"]


@dataclass
class TrialRun:
    """A trial, its slot (learn block) and its request; the job id once submitted (set before waiting).

    The same type for both origins: a re-attached trial simply starts with its ``job_id`` known.
    """

    trial: optuna.Trial
    number: int
    learn_id: int
    request: TrainRequest
    job_id: int | None = None
    seed: int | None = None  # the training seed its job is submitted with
    started_mono: float = field(default_factory=time.monotonic)
    watch: CurveWatch | None = None  # its epoch curve, when the study prunes
    twin: int | None = None  # an earlier trial with the same configuration, still running when asked
    compute_s: float | None = None  # the compute its job used, once the job has ended
    prune: tuple[int, float] | None = None  # (epoch, value) once its curve said stop
    name: str = ""  # how messages name it; "trial N" unless set (side studies: "baseline", "trial 5 repeat 2")

    @property
    def label(self) -> str:
        return self.name or f"trial {self.number}"
