"""A local project's testing category: samples held out of every train job, made once and kept in project.json.

As Studio keeps a project's testing data apart from its training data, each local project keeps a test split:
the ids of the samples in its testing category (a sample's id is its row in the stored arrays; a raw project's,
its signal's index). A train job reads only the training category (``datasets.load_rows``); its validation split
is drawn from the training category alone, so the testing samples are never trained on nor used to choose.
Windows are cut from samples after the split: every window of a sample lies on the sample's side.

The split is made once and never changes: ``TEST_FRACTION`` of the samples, stratified by class, seeded by
``TEST_SPLIT_SEED`` (``origin`` ``"made"``); an import whose data has its own testing category keeps it
(``origin`` ``"imported"``). A project made before test splits existed gets one the first time a local studio
serves it (``ensure_test_splits``), recorded with ``firstJob``: the first job id of its data dir that ran with
the split in place. A job with a lower id may have trained on samples that are now in the testing category.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sweep.local import scores

__all__ = ["SPLIT_VERSION", "TEST_FRACTION", "TEST_SPLIT_SEED", "HeldOut", "Origin", "make_split", "next_job_id"]

SPLIT_VERSION = 1  # of how splits are made: a later change of the rule gets a new number
TEST_FRACTION = 0.2
TEST_SPLIT_SEED = 20261208
Origin = Literal["made", "imported"]


@dataclass(frozen=True)
class HeldOut:
    """The testing category of a project: its samples' ids, how it was made, and the first job run with it."""

    samples: frozenset[int]
    origin: Origin
    first_job: int
    created: str
    version: int = SPLIT_VERSION

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "origin": self.origin, "firstJob": self.first_job,
                "createdAt": self.created, "samples": sorted(self.samples)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HeldOut:
        return cls(samples=frozenset(int(v) for v in data["samples"]), origin=data["origin"],
                   first_job=int(data["firstJob"]), created=str(data["createdAt"]), version=int(data["version"]))

    def mask(self, samples: np.ndarray) -> np.ndarray:
        """Which of ``samples`` (sample ids, one per row) are in the testing category."""
        return np.isin(samples, np.fromiter(self.samples, dtype=np.int64, count=len(self.samples)))

    def header(self) -> dict[str, Any]:
        """What the local studio tells a client about the split (without the sample ids)."""
        return {"version": self.version, "origin": self.origin, "firstJob": self.first_job,
                "createdAt": self.created, "samples": len(self.samples)}


def make_split(y: np.ndarray, first_job: int, testing: np.ndarray | None = None) -> HeldOut:
    """The split of samples whose classes are ``y``: ``testing`` (a boolean per sample: the data's own testing
    category) when given, else TEST_FRACTION of them, stratified by class where every class has two samples
    (at random otherwise; none when there are too few samples to hold any out)."""
    created = datetime.now(UTC).isoformat()
    if testing is not None:
        return HeldOut(frozenset(int(i) for i in np.flatnonzero(testing)), "imported", first_job, created)
    try:
        _, test = scores.split_indices(len(y), TEST_FRACTION, TEST_SPLIT_SEED, stratify=y)
    except ValueError:
        try:
            _, test = scores.split_indices(len(y), TEST_FRACTION, TEST_SPLIT_SEED)
        except ValueError:
            test = np.zeros(0, dtype=np.int64)
    return HeldOut(frozenset(int(i) for i in test), "made", first_job, created)


def next_job_id(data_dir: Path) -> int:
    """The id the data dir's next job will get (its job directories are numbered from 1)."""
    jobs = Path(data_dir) / "jobs"
    ids = [int(p.name) for p in jobs.iterdir() if p.name.isdigit()] if jobs.is_dir() else []
    return max(ids, default=0) + 1
