"""Which DSP blocks of a local project have their features generated, kept in ``DATA/features/<projectId>.json``.

A local project's features already exist as arrays (``X.npy``), so generating a DSP block's features (a
generate-features job) records that state for that block; the file (written atomically) maps DSP ids::

    {"12": {"generated": true, "count": 1797, "jobId": 40, "generatedAt": "<ISO time>",
            "source": {"window": {<the input block's window: studio.impulse_models.WINDOW_FIELDS>},
                       "dsp": {<the DSP block's type, axes, implementation version>}}}}

``count`` is the number of feature vectors (one per sample: a local project has one window per sample).
Features are *generated* for a DSP block when they were recorded from the source the block has now: after
its input block's window or the block itself changed (``POST /impulse``) they are stale until generated again.
The first DSP block of a project's original default impulse (shipped or imported) has its features from the
start: implied, never stored.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sweep.errors import ApiError
from sweep.local.datasets import LocalProject, sample_count, stored_at
from sweep.local.dsp_book import DspBook
from sweep.local.store import atomic_write_json, read_json
from sweep.local.views import impulse_body
from sweep.studio.impulse_models import input_window

__all__ = ["FeatureBook", "FeatureState", "feature_source", "input_block"]

_DSP_KEYS = ("type", "axes", "implementationVersion", "valuesPerAxis", "namedAxes", "customUrl")


@dataclass(frozen=True)
class FeatureState:
    """What ``GET /dsp/{dspId}`` says of a DSP block's features; ``stale``: recorded from another source."""

    generated: bool
    count: int | None = None
    stale: bool = False
    job_id: int | None = None


def input_block(impulse: dict[str, Any], dsp: dict[str, Any]) -> dict[str, Any]:
    """The input block feeding a DSP block (its ``input``, else the impulse's first), a copy; {} if none."""
    inputs = {b["id"]: b for b in impulse.get("inputBlocks") or []}
    return dict(inputs.get(dsp.get("input"), next(iter(inputs.values()), {})))


def feature_source(impulse: dict[str, Any], dsp: dict[str, Any], config: dict[str, str] | None = None
                   ) -> dict[str, Any]:
    """What a DSP block's features depend on: its input block's window, the DSP block's own settings and (a raw
    project's block) the parameter values set on it (``config``)."""
    source = {"window": input_window(input_block(impulse, dsp)),
              "dsp": {k: dsp[k] for k in _DSP_KEYS if k in dsp}}
    return {**source, "config": dict(sorted(config.items()))} if config else source


class FeatureBook:
    """Reads and records the DSP blocks' feature state of the projects of one data dir."""

    def __init__(self, data_dir: Path, dsp: DspBook | None = None) -> None:
        self.dir = Path(data_dir) / "features"
        self.dsp = dsp or DspBook(data_dir)  # the DSP blocks' parameter values (raw projects)
        self._lock = threading.Lock()  # the job manager's thread records, the handlers read and forget

    def _path(self, project: LocalProject) -> Path:
        return self.dir / f"{project.id}.json"

    def _load(self, project: LocalProject) -> dict[str, Any]:
        try:
            data: dict[str, Any] = read_json(self._path(project))
            return data
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise ApiError(f"{self._path(project)}: unreadable features file ({exc})", status_code=500) from None

    def _implied(self, project: LocalProject, dsp_id: int) -> dict[str, Any] | None:
        """The entry the original default impulse's first DSP block has without a job (its arrays exist)."""
        seed = impulse_body(project)["impulse"]
        dsp = seed["dspBlocks"][0]
        if dsp["id"] != dsp_id or project.kind == "raw":  # a raw project's features come from a job
            return None
        return {"generated": True, "count": sample_count(project), "generatedAt": stored_at(project).isoformat(),
                "source": feature_source(seed, dsp)}

    def state(self, project: LocalProject, impulse: dict[str, Any], dsp: dict[str, Any]) -> FeatureState:
        with self._lock:
            entry = self._load(project).get(str(dsp["id"]))
        if entry is None:
            entry = self._implied(project, dsp["id"])
        if entry is None or not entry.get("generated"):
            return FeatureState(generated=False)
        if entry.get("source") != self.source(project, impulse, dsp):
            return FeatureState(generated=False, stale=True, job_id=entry.get("jobId"))
        return FeatureState(generated=True, count=entry.get("count"), job_id=entry.get("jobId"))

    def source(self, project: LocalProject, impulse: dict[str, Any], dsp: dict[str, Any]) -> dict[str, Any]:
        """What the block's features would be generated from now (see :func:`feature_source`)."""
        return feature_source(impulse, dsp, self.dsp.values(project, dsp["id"]) if project.kind == "raw" else None)

    def entry(self, project: LocalProject, dsp_id: int) -> dict[str, Any] | None:
        """The block's recorded features (``source``, ``jobId``, and for a raw project ``key`` and ``shape``)."""
        with self._lock:
            entry = self._load(project).get(str(dsp_id))
        return entry if entry is not None else self._implied(project, dsp_id)

    def record(self, project: LocalProject, dsp_id: int, source: dict[str, Any], job_id: int, *,
               count: int | None = None, **extra: Any) -> None:
        """DSP block ``dsp_id`` has its features, generated by job ``job_id`` from ``source`` (``extra``: a raw
        project's feature set, its ``key`` and ``shape``)."""
        entry = {"generated": True, "count": sample_count(project) if count is None else count, "jobId": job_id,
                 "generatedAt": datetime.now(UTC).isoformat(), "source": source, **extra}
        with self._lock:
            data = self._load(project)
            data[str(dsp_id)] = entry
            atomic_write_json(self._path(project), data)

    def forget(self, project: LocalProject, dsp_ids: list[int]) -> None:
        """Drop the state of DSP blocks that no longer exist (a deleted clone's)."""
        with self._lock:
            data = self._load(project)
            if any(str(d) in data for d in dsp_ids):
                atomic_write_json(self._path(project), {k: v for k, v in data.items()
                                                        if k not in {str(d) for d in dsp_ids}})

    def missing(self, project: LocalProject, impulse: dict[str, Any], learn: dict[str, Any]) -> str | None:
        """Why a train job on ``learn`` cannot run for want of features (None: it can)."""
        blocks = {b["id"]: b for b in impulse.get("dspBlocks") or []}
        for dsp_id in learn.get("dsp") or []:
            dsp = blocks.get(dsp_id)
            if dsp is None:
                return f"learn block {learn['id']} takes DSP block {dsp_id}, not in impulse {impulse['id']}"
            state = self.state(project, impulse, dsp)
            where = f"features of DSP block {dsp_id} (impulse '{impulse['name']}')"
            if state.stale:
                made = f"job {state.job_id} generated them" if state.job_id else "the project was made"
                return (f"{where} are stale: its input block or DSP block changed since {made}; run a "
                        f"generate-features job first")
            if not state.generated:
                return f"{where} are not generated: run a generate-features job first"
        return None
