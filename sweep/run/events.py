"""Machine-readable run events (docs/events.md, docs/events.schema.json): one dict per event, handed to a sink.

Every event has ``event``, ``time`` (ISO 8601 UTC) and ``study``; the fields of each are written once, here.
A sink is any callable taking the dict (``list.append`` in a notebook); :class:`JsonLines` writes one JSON
object per line. A sink that fails is warned about once and then left alone: events never stop a sweep.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["EVENT_NAMES", "Events", "JsonLines", "Sink", "clean"]

log = logging.getLogger("sweep.run.events")

Sink = Callable[[dict[str, Any]], None]

EVENT_NAMES = ("run_started", "trial_asked", "job_started", "epoch", "trial_finished", "trial_left", "study_done",
               "error", "batch_done")


def clean(value: Any) -> Any:
    """``value`` as plain JSON: non-finite floats become None (JSON has no NaN), tuples lists, keys text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return str(value)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLines:
    """A sink writing each event as one line of JSON to ``stream``, flushed at once (thread-safe)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def __call__(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


class Events:
    """The events of one study's run, stamped with its name and the time, handed to ``sink`` (None: dropped)."""

    def __init__(self, sink: Sink | None = None, study: str | None = None) -> None:
        self.sink, self.study = sink, study
        self._broken = False

    @property
    def enabled(self) -> bool:
        return self.sink is not None and not self._broken

    def for_study(self, study: str | None) -> Events:
        """The same sink, for another study (or for none yet: a file that did not load)."""
        return Events(self.sink, study)

    def emit(self, event: str, **fields: Any) -> None:
        if self.sink is None or self._broken:
            return
        record = clean({"event": event, "time": _now(), "study": self.study, **fields})
        try:
            self.sink(record)
        except Exception as exc:  # noqa: BLE001 - a consumer's problem must not stop the sweep
            self._broken = True
            log.warning("run events: the sink failed (%s: %s); no more events from this run", type(exc).__name__, exc)

    # ---- the events, each with its fields ----------------------------------------------------------

    def run_started(self, *, file: str, target: str, storage: str, trials: int, done: int,
                    learn_blocks: list[int], on_stop: str) -> None:
        """A run is connected and about to train: where, toward how many trials, ``done`` already counted."""
        self.emit("run_started", file=file, target=target, storage=storage, trials=trials, done=done,
                  learn_blocks=learn_blocks, on_stop=on_stop)

    def trial_asked(self, *, trial: int, label: str, params: Mapping[str, Any], learn_block: int, origin: str,
                    seed: int | None = None, job_id: int | None = None) -> None:
        """A trial this run takes on: ``origin`` sampled, enqueued, warm_start, queued (baseline, repeats), retry
        (a configuration tried once more) or reattached (then ``job_id`` is the job it follows)."""
        self.emit("trial_asked", trial=trial, label=label, params=dict(params), learn_block=learn_block,
                  origin=origin, seed=seed, job_id=job_id)

    def job_started(self, *, trial: int, label: str, job_id: int, learn_block: int) -> None:
        self.emit("job_started", trial=trial, label=label, job_id=job_id, learn_block=learn_block)

    def epoch(self, *, trial: int, label: str, epoch: int, of: int, job_id: int | None, learn_block: int,
              elapsed_s: float, done: int, total: int | None, best: Mapping[str, Any], eta_s: float | None) -> None:
        """A running job reached a new epoch; with what the live line shows (counts, best so far, ETA)."""
        self.emit("epoch", trial=trial, label=label, epoch=epoch, of=of, job_id=job_id, learn_block=learn_block,
                  elapsed_s=round(elapsed_s, 3), done=done, total=total, best=dict(best),
                  eta_s=None if eta_s is None else round(eta_s, 1))

    def trial_finished(self, *, trial: int, label: str, state: str, job_id: int | None, wall_s: float,
                       compute_s: float | None, values: list[float] | None = None,
                       metrics: Mapping[str, Any] | None = None, failure: str | None = None,
                       pruned: Mapping[str, Any] | None = None, reused_from: int | None = None) -> None:
        """A trial's end as told to the study: COMPLETE (values, metrics), FAIL (failure) or PRUNED (pruned)."""
        self.emit("trial_finished", trial=trial, label=label, state=state, job_id=job_id, values=values,
                  metrics=None if metrics is None else dict(metrics), failure=failure,
                  pruned=None if pruned is None else dict(pruned), reused_from=reused_from,
                  wall_s=round(wall_s, 3), compute_s=compute_s)

    def trial_left(self, *, trial: int, label: str, job_id: int, learn_block: int) -> None:
        """``--on-stop leave``: the run stopped, the trial's job runs on; the trial stays RUNNING for a re-attach."""
        self.emit("trial_left", trial=trial, label=label, job_id=job_id, learn_block=learn_block)

    def study_done(self, *, exit_code: int, summary: Mapping[str, Any], complete_in_study: int,
                   stopped_reason: str, best: list[dict[str, Any]]) -> None:
        """A run that started has ended, well or not: this run's counts and the study's best."""
        self.emit("study_done", exit_code=exit_code, summary=dict(summary), complete_in_study=complete_in_study,
                  stopped_reason=stopped_reason or None, best=best)

    def error(self, *, message: str, exit_code: int, file: str | None) -> None:
        """What ended a study's run with an error (also a file that did not load: then ``study`` is null)."""
        self.emit("error", message=message, exit_code=exit_code, file=file)

    def batch_done(self, *, exit_code: int, studies: list[dict[str, Any]]) -> None:
        """``sweep run`` of several studies: how each ended, and the worst exit code of the set."""
        self.emit("batch_done", exit_code=exit_code, studies=studies)
