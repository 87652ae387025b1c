"""Follow one train job to a usable result: socket events or polling, failure log tail, profiling, stale check."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sweep.errors import (
    ApiError,
    Interrupted,
    JobFailed,
    JobTimeout,
    JobVanished,
    StaleModelError,
)
from sweep.session.compute import Account, Kind
from sweep.settings import Settings, choose
from sweep.studio.backend import JobEvents, Jobs, Training
from sweep.studio.joblog import curves_from_log, failure_reason, first_epoch, last_epoch
from sweep.studio.metrics import (
    confusion_matrices,
    curves_from_metadata,
    flatten_metadata,
    profiling_failed,
    profiling_pending,
)
from sweep.studio.models import Job, JobLogItem, KerasModelMetadata, ModelType
from sweep.studio.socket import JobStream

__all__ = ["Follower", "JobLog", "JobResult", "OnPoll", "Polling"]

log = logging.getLogger("sweep.run.follow")

# Studio and our servers stamp metadata and jobs with their own clocks; a model written this
# long before the job was created is still "the old one". Small, because both come from one server.
_STALE_SKEW = timedelta(seconds=1)
# How many of a failed job's newest log lines are searched for the reason (Studio serves 1000 at most).
_REASON_LINES = 200
_ERROR_LEVELS = {"error", "err", "fatal", "critical"}


class _Backend(Jobs, Training, Protocol):
    """What following a job needs: the job routes and the learn block's metadata."""


class JobLog:
    """A followed job's log lines, oldest first: the socket's as they arrive, else read from the log route."""

    def __init__(self, jobs: Jobs, job_id: int, stream: JobStream | None = None) -> None:
        self.jobs, self.job_id, self.stream = jobs, job_id, stream

    def lines(self) -> list[str]:
        """Every line so far (the log route's newest 1000 when there is no live socket, or when the socket's
        lines start in the middle of the training). Raises the log route's errors."""
        if self.stream is not None and self.stream.live:
            lines = self.stream.lines()
            if first_epoch(lines) in (None, 1):
                return lines
        return [item.data for item in reversed(self.jobs.job_log(self.job_id))]

    def epoch(self) -> tuple[int, int] | None:
        """The epoch the job is in, from the socket's lines only (never a request: None without a live socket)."""
        if self.stream is None or not self.stream.live:
            return None
        return last_epoch(self.stream.lines())


# Called with the job (as last read) and its log at every look; True means "stop following" (the
# caller prunes it, say): then wait() returns the job unfinished.
OnPoll = Callable[[Job, JobLog], bool]


@dataclass(frozen=True)
class Polling:
    """Quick at first, backing off by ``factor`` to ``max_s``, but never waiting longer than ``lag`` of the
    time followed so far (at least ``initial_s``): a finished job is noticed within max(1 s, 3 % of its run)."""

    initial_s: float = 1.0
    factor: float = 1.5
    max_s: float = 30.0
    lag: float = 0.03

    @classmethod
    def from_settings(cls, settings: Settings, target_cap_s: float | None) -> Polling:
        """The settings' polling; its cap is SWEEP_POLL_MAX_S when set, else the target's, else the default."""
        explicit = settings.poll_max_s if "poll_max_s" in settings.model_fields_set else None
        cap = choose(environment=explicit,
                     default=target_cap_s if target_cap_s is not None else settings.poll_max_s).value
        return cls(min(settings.poll_initial_s, cap), settings.poll_factor, cap, settings.poll_lag)

    def intervals(self) -> Iterator[float]:
        """The backoff alone: ``initial_s``, times ``factor`` each time, up to ``max_s``."""
        delay = self.initial_s
        while True:
            yield delay
            delay = min(delay * self.factor, self.max_s)

    def delays(self, elapsed: Callable[[], float]) -> Iterator[float]:
        """The waits between looks at a job followed for ``elapsed()`` seconds: the backoff, capped by the lag."""
        for delay in self.intervals():
            yield min(delay, max(self.initial_s, self.lag * elapsed()))


@dataclass
class JobResult:
    """What a finished, successful job gave: flat metrics and the richer parts reports use."""

    job: Job
    metadata: KerasModelMetadata
    metrics: dict[str, float]
    curves: dict[str, list[float]] = field(default_factory=dict)
    confusion: dict[str, list[list[float]]] = field(default_factory=dict)


class Follower:
    """Follows jobs of one client; ``stop`` (shared by all slots) interrupts any wait. Each job it follows is
    charged to ``account`` (when given): as followed when the wait begins, with its compute once it has ended."""

    def __init__(
        self,
        client: _Backend,
        *,
        polling: Polling,
        stop: threading.Event,
        job_timeout_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        log_tail_lines: int = 40,
        events: JobEvents | None = None,
        tick_s: float = 1.0,
        account: Account | None = None,
    ) -> None:
        self.client, self.polling, self.stop, self.account = client, polling, stop, account
        self.events, self.tick_s = events, tick_s
        self.job_timeout_s, self.clock, self.log_tail_lines = job_timeout_s, clock, log_tail_lines

    def wait(self, job_id: int, *, on_poll: OnPoll | None = None, cancel_on_stop: bool = True,
             kind: Kind = "train") -> Job:
        """Follow the job (a ``kind`` job, as charged) until it is finished, or until ``on_poll`` says to stop
        following it (the job is then returned unfinished); cancel it on timeout or when ``stop`` is set.

        With the project socket, its finish is noticed when the socket says so and the status route is
        read slowly, as the safety net; without it (or once it drops), the status route is polled with
        a lag-capped backoff. ``on_poll`` is called at every look, and every ``tick_s`` on the socket."""
        started = self.clock()
        stream = self.events.follow(job_id) if self.events is not None and self.events.connected else None
        joblog = JobLog(self.client, job_id, stream)
        backoff = self.polling.intervals()
        lagged = self.polling.delays(lambda: self.clock() - started)
        self._charge(job_id, None, kind)
        try:
            job, due = self._status(job_id), 0.0
            while True:
                if job.finished is not None:
                    self._charge(job_id, job.compute_time, kind)
                    return job
                if on_poll is not None and on_poll(job, joblog):
                    return job
                if self.job_timeout_s is not None and self.clock() - started > self.job_timeout_s:
                    self._cancel(job_id)
                    raise JobTimeout(f"not finished after {self.job_timeout_s:.0f} s; cancelled", job_id=job_id)
                live = stream is not None and stream.live
                if live:
                    now = self.clock()
                    if due <= now:
                        due = now + next(backoff)
                    pause = min(due - now, self.tick_s)
                else:
                    pause = next(lagged)
                if self._pause(stream if live else None, pause):
                    if cancel_on_stop:
                        self._cancel(job_id)
                    raise Interrupted(f"interrupted while following job {job_id}")
                if stream is not None and stream.finished.is_set():
                    stream.finished.clear()
                    due = 0.0  # the socket says it ended: read its status now (and quickly until it agrees)
                    backoff = self.polling.intervals()
                if not live or due <= self.clock():
                    job = self._status(job_id)
        finally:
            if stream is not None and self.events is not None:
                self.events.forget(job_id)

    def _charge(self, job_id: int, compute_s: float | None, kind: Kind) -> None:
        if self.account is not None:
            self.account.charge(job_id, compute_s, kind)

    def _pause(self, stream: JobStream | None, seconds: float) -> bool:
        """Wait ``seconds`` (or until the socket says the job ended); True when ``stop`` was set."""
        seconds = max(seconds, 0.0)
        if stream is None:
            return self.stop.wait(seconds)
        stream.finished.wait(seconds)
        return self.stop.is_set()

    def _cancel(self, job_id: int) -> None:
        try:
            self.client.cancel_job(job_id)
            log.info("cancelled job %s", job_id)
        except Exception as exc:  # noqa: BLE001 - cancelling is best effort; say so, never hide it
            log.warning("could not cancel job %s: %s", job_id, exc)

    def _status(self, job_id: int) -> Job:
        try:
            return self.client.job_status(job_id)
        except ApiError as exc:
            if exc.status_code == 404:
                raise JobVanished("no longer exists on the server (it was deleted, or the server lost its jobs); "
                                  f"{exc}", job_id=job_id) from None
            raise

    def _log(self, job_id: int, limit: int) -> list[JobLogItem]:
        """The job's newest ``limit`` log items, newest first (empty if the log cannot be read)."""
        try:
            return self.client.job_log(job_id, limit=limit)[:limit]
        except Exception as exc:  # noqa: BLE001 - the log is a courtesy for a failure already known
            log.warning("could not read the log of job %s: %s", job_id, exc)
            return []

    def log_tail(self, job_id: int) -> list[str]:
        """The last lines of a job's log, oldest first (empty if the log cannot be read)."""
        return [item.data.rstrip("\n") for item in reversed(self._log(job_id, self.log_tail_lines))]

    def failure(self, job: Job) -> JobFailed:
        """Why ``job`` failed, told from its error lines (or plainly, when none says), with its log tail;
        transient when its status says its server stopped under it."""
        why, tail = self.reason(job)
        return JobFailed(f"failed: {why}", job_id=job.id, log_tail=tail, compute_time_s=job.compute_time,
                         transient=job.stopped_by_server)

    def reason(self, job: Job) -> tuple[str, list[str]]:
        """(why ``job`` failed, its last log lines oldest first): the newest error line of its log, else
        the server's own reason, else a plain "no line says why" -- never merely the last line."""
        items = list(reversed(self._log(job.id, max(_REASON_LINES, self.log_tail_lines))))  # oldest first
        lines = [item.data.rstrip("\n") for item in items]
        flagged = [item.data.rstrip("\n") for item in items if (item.log_level or "").lower() in _ERROR_LEVELS]
        why = failure_reason(lines, flagged)
        if why is None:
            server = (job.metadata or {}).get("failureReason")
            why = str(server) if server else (
                f"no line of its log says why (read its last {len(lines)} lines)" if lines else "its log is empty")
        return why, lines[-self.log_tail_lines:]

    def result(
        self,
        job: Job,
        learn_id: int,
        *,
        need_device: bool,
        selected: ModelType | str | None = None,
        stale_retries: int = 3,
        on_poll: OnPoll | None = None,
        cancel_on_stop: bool = True,
    ) -> JobResult:
        """Check success, wait for profiling when device metrics matter, refuse a stale model (a stop cancels
        the profiling job unless ``cancel_on_stop`` is false)."""
        if not job.finished_successful:
            raise self.failure(job)
        metadata = self._fresh_metadata(job, learn_id, stale_retries)
        if need_device:
            metadata = self._profiled(job, learn_id, metadata, stale_retries, on_poll, cancel_on_stop)
        elif (profiling := profiling_pending(metadata)) is not None:
            self._charge(profiling, None, "profiling")  # not waited for, still counted: settled by a later run
        curves = curves_from_metadata(metadata)
        if not curves:
            curves = curves_from_log(list(reversed([i.data for i in self.client.job_log(job.id)])))
        return JobResult(
            job=job,
            metadata=metadata,
            metrics=flatten_metadata(metadata, selected=selected, compute_time_s=job.compute_time),
            curves=curves,
            confusion=confusion_matrices(metadata),
        )

    def _profiled(self, job: Job, learn_id: int, metadata: KerasModelMetadata, retries: int,
                  on_poll: OnPoll | None, cancel_on_stop: bool = True) -> KerasModelMetadata:
        """The metadata once its device metrics are in: wait for each profiling job it names; a failed one
        (the job, or ``profilingJobFailed`` in the metadata) fails the trial with the profiling log's reason."""
        waited: set[int] = set()
        while (pending := profiling_pending(metadata)) is not None:
            if pending in waited or profiling_failed(metadata):
                profiling = self._status(pending)
                if profiling.finished is not None:
                    self._charge(pending, profiling.compute_time, "profiling")
                why, tail = self.reason(profiling)
                if not profiling_failed(metadata) and profiling.finished_successful:
                    why = "the device metrics did not arrive after it finished"
                raise JobFailed(f"its profiling job {pending} failed: {why}", job_id=job.id, log_tail=tail,
                                compute_time_s=job.compute_time, transient=profiling.stopped_by_server)
            log.info("job %s: waiting for profiling job %s", job.id, pending)
            profiling = self.wait(pending, on_poll=on_poll, cancel_on_stop=cancel_on_stop, kind="profiling")
            waited.add(pending)
            if not profiling.finished_successful:
                why, tail = self.reason(profiling)
                raise JobFailed(f"its profiling job {pending} failed: {why}", job_id=job.id, log_tail=tail,
                                compute_time_s=job.compute_time, transient=profiling.stopped_by_server)
            metadata = self._fresh_metadata(job, learn_id, retries)
        return metadata

    def _fresh_metadata(self, job: Job, learn_id: int, retries: int) -> KerasModelMetadata:
        since: datetime = job.started or job.created
        for attempt in range(retries + 1):
            metadata = self.client.metadata(learn_id)
            if metadata.has_trained_model and metadata.created >= since - _STALE_SKEW:
                return metadata
            if attempt < retries and self.stop.wait(min(2.0 * (attempt + 1), 5.0)):
                raise Interrupted()
        raise StaleModelError(
            f"learn block {learn_id} still holds a model from {metadata.created.isoformat()}, "
            f"older than this job ({since.isoformat()})",
            job_id=job.id,
        )
