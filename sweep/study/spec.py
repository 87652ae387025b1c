"""A validated study: what the sampler, the runner and the reports read (the file's own shape is in schema)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweep.study.schema import (
    Constraint,
    LocalTarget,
    Objective,
    PrunerSpec,
    SamplerSpec,
    StudioTarget,
    WarmStart,
)
from sweep.study.space import Space

__all__ = ["StudySpec"]


@dataclass(frozen=True)
class StudySpec:
    """A validated study file: what the runner, sampler and reports use."""

    name: str
    path: Path
    trials: int
    time_limit_s: float | None
    compute_budget_s: float | None
    storage: str | None
    sampler: SamplerSpec
    pruner: PrunerSpec
    objectives: list[Objective]
    constraints: list[Constraint]
    target: LocalTarget | StudioTarget
    max_consecutive_failures: int
    timeout_per_job_s: float | None
    device: str | None
    space: Space
    fixed: dict[str, Any]
    training_seed: int | None = None  # every trial's seed; None: one per trial (study.seeds.trial_seed)
    baseline: bool = True  # a new study first trains the source learn block's own configuration
    warm_start: WarmStart | None = None  # earlier studies whose best configurations a new study tries first

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]
