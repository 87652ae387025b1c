"""The ask/tell loop: ask -> train request -> submit -> record job id -> follow -> tell; resume and slots.

One thread per slot (learn block), at most one job per learn block at a time. Optuna's storage is
the only shared state, so several ``sweep run`` processes (or machines on PostgreSQL) can work on
one study: each trial records its worker (host, pid, heartbeat) and its job id before waiting, and
a RUNNING trial whose worker is gone is re-attached to its job instead of being trained again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from sweep.budget import Budget
from sweep.errors import (
    ApiError,
    AuthError,
    JobError,
    JobFailed,
    ProtocolError,
    SweepAborted,
    SweepError,
    TransientError,
)
from sweep.follow import Follower, Interrupted, JobResult, Polling
from sweep.metrics import DEVICE_FIELDS
from sweep.progress import Progress
from sweep.pruning import CurveWatch, pruned_reason
from sweep.records import COMPUTE
from sweep.space import config_key, distributions, train_request
from sweep.studio.client import StudioClient
from sweep.studio.models import Job
from sweep.study import StudySpec
from sweep.workers import Workers

__all__ = ["Runner", "RunSummary", "RunOptions"]

log = logging.getLogger("sweep.runner")
_COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)
HEARTBEAT_S = 30.0  # a running trial's worker record is refreshed this often


@dataclass(frozen=True)
class RunOptions:
    """How a run behaves; the study file and flags fill it once at the edge."""

    target_trials: int
    time_limit_s: float | None = None
    compute_budget_s: float | None = None
    max_consecutive_failures: int = 5
    job_timeout_s: float | None = None
    polling: Polling = Polling()
    heartbeat_s: float = HEARTBEAT_S
    stale_after_s: float = 180.0


@dataclass
class RunSummary:
    completed: int = 0
    failed: int = 0
    reused: int = 0
    reattached: int = 0
    pruned: int = 0
    stopped_reason: str = ""


@dataclass
class _Work:
    trial: optuna.Trial
    number: int
    learn_id: int
    request: dict[str, Any]
    job_id: int | None = None
    started_mono: float = field(default_factory=time.monotonic)
    watch: CurveWatch | None = None  # when the study prunes
    key: str = ""  # config_key(request): equal keys = the same training configuration
    twin: int | None = None  # an earlier trial with the same configuration, still running when asked
    compute_s: float | None = None  # the compute its job used, once the job has ended


class _Prune(Exception):
    """Raised from a poll when the trial's curve says stop; caught in ``_run``."""

    def __init__(self, epoch: int, value: float) -> None:
        super().__init__(epoch, value)
        self.epoch, self.value = epoch, value


class Runner:
    """Drives one study against one Edge Impulse project through its learn-block slots."""

    def __init__(
        self,
        spec: StudySpec,
        study: optuna.Study,
        client: StudioClient,
        learn_ids: list[int],
        options: RunOptions,
        *,
        progress: Progress | None = None,
    ) -> None:
        self.spec, self.study, self.client, self.learn_ids = spec, study, client, list(learn_ids)
        self.options = options
        self.progress = progress or Progress(quiet=True)
        self.stop = threading.Event()
        self._all_done = threading.Event()
        self._live = 0
        self.follower = Follower(client, polling=options.polling, stop=self.stop,
                                 job_timeout_s=options.job_timeout_s)
        self.space = distributions(spec)
        self.metric_names = [o.metric for o in spec.objectives]
        self.need_device = any(_is_device_metric(m) for m in self._all_metrics())
        self.summary = RunSummary()
        self._lock = threading.Lock()
        self._abort: SweepError | None = None
        self._consecutive_failures = 0
        self._reattach: deque[_Work] = deque()
        self._started = time.monotonic()
        self.workers = Workers(study, self.learn_ids, options.stale_after_s)
        self.budget = Budget(client, options.compute_budget_s)
        self._known: dict[str, int] = {}
        self._indexed: set[int] = set()
        self._inflight: dict[int, str] = {}  # this process's trials in flight: number -> config key
        self._keys: dict[int, str] = {}  # config keys of trials' recorded requests, by trial number
        self._best: tuple[float, int] | None = None

    # ---- public ---------------------------------------------------------------------------

    def run(self) -> RunSummary:
        """Resume what a dead worker left, then fill the slots until the study is done (the caller has
        refused learn blocks that another live worker uses: :meth:`Workers.refuse_busy_blocks`)."""
        self._resume()
        self._live = len(self.learn_ids)
        for lid in self.learn_ids:
            threading.Thread(target=self._slot, args=(lid,), name=f"slot-{lid}", daemon=True).start()
        # Wait on an Event, not Thread.join: a KeyboardInterrupt inside join() can leave the thread
        # looking finished (CPython), and the process would exit before jobs are cancelled.
        interrupted = False
        while True:
            try:
                if self._all_done.wait(0.2):
                    break
            except KeyboardInterrupt:
                if not interrupted:
                    interrupted = True
                    self.progress.warn("interrupted: cancelling running jobs and recording their trials...")
                    self._set_abort(Interrupted("interrupted by the user"))
        if self._abort is not None:
            self.summary.stopped_reason = str(self._abort)
            raise self._abort
        return self.summary

    # ---- slots ------------------------------------------------------------------------------

    def _slot(self, learn_id: int) -> None:
        try:
            self._slot_loop(learn_id)
        finally:
            with self._lock:
                self._live -= 1
                if self._live <= 0:
                    self._all_done.set()

    def _slot_loop(self, learn_id: int) -> None:
        try:
            while not self.stop.is_set():
                work = self._next(learn_id)
                if work is None:
                    return
                try:
                    self._run(work)
                except UpdateFinishedTrialError:
                    # another worker judged ours dead and finished the trial: its word stands
                    self.progress.warn(f"trial {work.number}: finished by another worker; moving on")
        except SweepError as exc:
            self._set_abort(exc)
        except Exception as exc:  # a bug must stop the sweep loudly, never hang the others
            log.exception("slot %s crashed", learn_id)
            self._set_abort(SweepAborted(f"internal error in slot {learn_id}: {type(exc).__name__}: {exc}"))

    def _set_abort(self, exc: SweepError) -> None:
        with self._lock:
            if self._abort is None:
                self._abort = exc
        self.stop.set()

    def _next(self, learn_id: int) -> _Work | None:
        with self._lock:
            for work in list(self._reattach):
                if work.learn_id == learn_id or work.learn_id not in self.learn_ids:
                    self._reattach.remove(work)
                    return work
            if self.options.time_limit_s is not None and time.monotonic() - self._started > self.options.time_limit_s:
                self._stop_reason("time limit reached")
                return None
            exhausted = getattr(self.study.sampler, "is_exhausted", None)
            if exhausted is not None and exhausted(self.study):
                self._stop_reason("the grid is exhausted")
                return None
            trials = self.study.get_trials(deepcopy=False)
            done = sum(t.state in _COUNTED for t in trials)
            running = sum(t.state == TrialState.RUNNING for t in trials)
            if done + running >= self.options.target_trials:
                return None
            if reason := self.budget.exhausted(trials, running):
                self._stop_reason(reason)
                return None
            self._remember(trials)
            trial = self.study.ask(self.space)
            # Trials asked (by other workers) since the count above: only they can make this one surplus.
            if done + running + trial.number - len(trials) >= self.options.target_trials and self._surplus(trial):
                return None
            body = train_request(self.spec, trial.params).wire()
            key = config_key(body)
            trial.set_user_attr("request", body)
            trial.set_user_attr("worker", self.workers.record(learn_id))
            twin = None if key in self._known else self._running_twin(key, trial.number, trials)
            self._inflight[trial.number] = key
            return _Work(trial=trial, number=trial.number, learn_id=learn_id, request=body, key=key, twin=twin)

    def _running_twin(self, key: str, number: int, trials: list[FrozenTrial]) -> int | None:
        """The earliest trial with configuration ``key`` still in flight: this process's, or another live
        worker's (a dead worker's trial is left to its re-attacher). Called under the lock."""
        ours = [n for n, k in self._inflight.items() if k == key and n < number]
        theirs = [t.number for t in trials if t.state == TrialState.RUNNING and t.number < number
                  and t.number not in self._inflight and self._key_of(t) == key
                  and self.workers.alive(t.user_attrs.get("worker") or {})]
        return min(ours + theirs, default=None)

    def _key_of(self, trial: FrozenTrial) -> str | None:
        """The configuration key of a trial's recorded request, computed once per trial."""
        if trial.number not in self._keys:
            request = trial.user_attrs.get("request")
            if request is None:
                return None
            self._keys[trial.number] = config_key(request)
        return self._keys[trial.number]

    def _surplus(self, trial: optuna.Trial) -> bool:
        """Fail ``trial`` unrun when the trials before it already make the target: counting, then
        asking, is not atomic across processes, so another worker may have asked at the same moment."""
        before = [t for t in self.study.get_trials(deepcopy=False)
                  if t.number < trial.number and (t.state in _COUNTED or t.state == TrialState.RUNNING)]
        if len(before) < self.options.target_trials:
            return False
        trial.set_user_attr("failure", f"not run: the study already had its {self.options.target_trials} trials "
                                       "(another worker asked at the same moment)")
        self.study.tell(trial, state=TrialState.FAIL)
        return True

    def _stop_reason(self, reason: str) -> None:
        if not self.summary.stopped_reason:
            self.summary.stopped_reason = reason
            self.progress.info(f"stopping: {reason}")

    def _remember(self, trials: list[FrozenTrial]) -> None:
        """Index completed trials' requests (also other workers'), each trial once."""
        for t in trials:
            if t.number in self._indexed or t.state != TrialState.COMPLETE:
                continue
            self._indexed.add(t.number)
            key = self._key_of(t)
            if key is not None and "metrics" in t.user_attrs:
                self._known.setdefault(key, t.number)

    # ---- one trial ------------------------------------------------------------------------------

    def _run(self, work: _Work) -> None:
        try:
            self._run_trial(work)
        finally:
            with self._lock:
                self._inflight.pop(work.number, None)

    def _run_trial(self, work: _Work) -> None:
        if work.job_id is None and work.twin is not None:
            try:
                twin = self._await_twin(work)
            except Interrupted:
                self._fail(work, f"interrupted while waiting for trial {work.twin}, the same configuration", [])
                raise
            if twin is not None and twin.state == TrialState.PRUNED:
                self._prune_as_twin(work, twin)
                return
        with self._lock:
            known = None if work.job_id is not None else self._known.get(work.key)
        if known is not None:
            self._reuse(work, known)
            return
        try:
            if work.job_id is None:
                if self.stop.is_set():
                    raise Interrupted()
                work.job_id = self.client.start_training(work.learn_id, _request_model(work.request))
                work.trial.set_user_attr("job_id", work.job_id)  # before waiting: a restart re-attaches
                self.progress.info(f"trial {work.number}: job {work.job_id} started on learn block {work.learn_id}")
            if self.spec.pruner.name != "none" and work.watch is None:
                work.watch = CurveWatch(self.study, work.trial, self.spec.pruner)
            job = self._follow(work)
            work.compute_s = job.compute_time
            result = self.follower.result(job, work.learn_id, need_device=self.need_device,
                                          selected=work.request.get("selectedModelType"),
                                          on_poll=self._on_poll(work, "profiling"))
            self.progress.done(work.number)
        except _Prune as exc:
            self._prune(work, exc)
            return
        except Interrupted:
            self._fail(work, f"interrupted; job {work.job_id} cancelled" if work.job_id else "interrupted before submission", [])
            raise
        except (AuthError, TransientError):
            # The job (if any) runs on: leave the trial RUNNING with its job id for a later re-attach.
            raise
        except JobFailed as exc:
            if exc.compute_time_s is not None:
                work.compute_s = exc.compute_time_s
            self._failure(work, exc.message, exc.log_tail)
            return
        except (JobError, ApiError, ProtocolError) as exc:
            self._failure(work, str(exc), [])
            return
        self._complete(work, result)

    def _await_twin(self, work: _Work) -> FrozenTrial | None:
        """Wait until ``work.twin`` (the same configuration, running) ends: its final trial, or None when
        its worker died (then this trial trains). The heartbeat goes on meanwhile."""
        assert work.twin is not None
        self.progress.info(f"trial {work.number}: same configuration as trial {work.twin}, still running; "
                           "waiting for its result instead of training it twice")
        last_beat = time.monotonic()
        while True:
            twin = self.study.get_trials(deepcopy=False)[work.twin]
            with self._lock:
                if twin.state != TrialState.RUNNING:
                    self._remember([twin])
                    return twin
                ours = work.twin in self._inflight
            if not ours and not self.workers.alive(twin.user_attrs.get("worker") or {}):
                return None
            self.progress.running(work.number, None, work.learn_id, f"waiting for trial {work.twin}",
                                  time.monotonic() - work.started_mono)
            if time.monotonic() - last_beat >= self.options.heartbeat_s:
                work.trial.set_user_attr("worker", self.workers.record(work.learn_id))
                last_beat = time.monotonic()
            if self.stop.wait(min(1.0, self.options.polling.max_s)):
                raise Interrupted()

    def _prune_as_twin(self, work: _Work, twin: FrozenTrial) -> None:
        """The same configuration was pruned: so is this trial, without training it."""
        work.trial.set_user_attr("pruned", twin.user_attrs.get("pruned") or {})
        work.trial.set_user_attr("duplicate_of", twin.number)
        self.study.tell(work.trial, state=TrialState.PRUNED)
        with self._lock:
            self.summary.pruned += 1
        self.progress.done(work.number)
        self.progress.info(f"trial {work.number}: same configuration as trial {twin.number}, which was pruned; "
                           "pruned too, nothing trained")

    def _on_poll(self, work: _Work, what: str = "") -> Callable[[Job], None]:
        """Refresh the live line; every ``heartbeat_s`` the trial's worker record; every
        ``pruner.check_every`` (while training) its curve."""
        last_beat = last_check = time.monotonic()

        def on_poll(job: Job) -> None:
            nonlocal last_beat, last_check
            state = what or ("running" if job.started else "queued")
            self.progress.running(work.number, job.id, work.learn_id, state, time.monotonic() - work.started_mono)
            if time.monotonic() - last_beat >= self.options.heartbeat_s:
                work.trial.set_user_attr("worker", self.workers.record(work.learn_id))
                last_beat = time.monotonic()
            if (not what and work.watch is not None and job.finished is None
                    and time.monotonic() - last_check >= self.spec.pruner.check_every):
                last_check = time.monotonic()
                if stop := work.watch.check(self.client, job.id):
                    raise _Prune(*stop)

        return on_poll

    def _prune(self, work: _Work, exc: _Prune) -> None:
        """Stop the job, wait until it has ended (its learn block is free again), record PRUNED."""
        assert work.job_id is not None
        interrupted: Interrupted | None = None
        try:
            self.client.cancel_job(work.job_id)
            work.compute_s = self.follower.wait(work.job_id, cancel_on_stop=False).compute_time
        except Interrupted as err:  # Ctrl-C while the cancelled job winds down: record, then stop
            interrupted = err
        except (ApiError, ProtocolError, JobError) as err:
            log.warning("trial %s: cancelling pruned job %s: %s", work.number, work.job_id, err)
        info = {"epoch": exc.epoch, "curve": self.spec.pruner.curve, "value": exc.value}
        work.trial.set_user_attr("pruned", info)
        if work.compute_s is not None:  # a cancelled job cost compute too (see sweep.records)
            work.trial.set_user_attr(COMPUTE, work.compute_s)
        self.study.tell(work.trial, state=TrialState.PRUNED)
        with self._lock:
            self.summary.pruned += 1
            self._consecutive_failures = 0
        self.progress.done(work.number)
        self.progress.info(f"trial {work.number}: {pruned_reason(info)}; job {work.job_id} cancelled")
        if interrupted is not None:
            raise interrupted

    def _follow(self, work: _Work) -> Job:
        assert work.job_id is not None
        try:
            return self.follower.wait(work.job_id, on_poll=self._on_poll(work))
        finally:
            self.progress.done(work.number)

    def _complete(self, work: _Work, result: JobResult) -> None:
        metrics = dict(result.metrics)
        metrics["wall_time_s"] = time.monotonic() - work.started_mono
        missing = [m for m in self._all_metrics() if m not in metrics]
        if missing:
            available = ", ".join(sorted(k for k in metrics if k.count(".") <= 1)[:30])
            self._failure(work, f"metric {missing[0]!r} is not in the job's results (available: {available})", [])
            return
        trial = work.trial
        if work.watch is not None and not work.watch.multi:
            work.watch.update(result.curves.get(self.spec.pruner.curve, []))  # the epochs polls missed
        trial.set_user_attr("metrics", metrics)
        if result.curves:
            trial.set_user_attr("curves", result.curves)
        trial.set_user_attr("confusion", result.confusion)
        trial.set_user_attr("class_names", list(result.metadata.class_names))
        self._tell(work, metrics)
        with self._lock:
            self.summary.completed += 1

    def _tell(self, work: _Work, metrics: dict[str, float]) -> None:
        feasible = True
        for c in self.spec.constraints:
            value = c.value(metrics)
            feasible = feasible and value <= 0
            work.trial.set_constraint(str(c), value)
        values = [metrics[m] for m in self.metric_names]
        self.study.tell(work.trial, values)
        with self._lock:
            self._consecutive_failures = 0
            self._known.setdefault(work.key, work.number)
        shown = " ".join(f"{m}={v:.4g}" for m, v in zip(self.metric_names, values))
        self.progress.info(f"trial {work.number}: complete {shown} ({metrics.get('wall_time_s', 0):.1f} s)")
        if feasible:
            self._report_best(work.number, values)

    def _reuse(self, work: _Work, twin: int) -> None:
        """An identical request was already trained: tell its result again instead of training."""
        source = self.study.get_trials(deepcopy=False)[twin]
        for key in ("metrics", "curves", "confusion", "class_names"):
            if key in source.user_attrs:
                work.trial.set_user_attr(key, source.user_attrs[key])
        work.trial.set_user_attr("duplicate_of", twin)
        self.progress.info(f"trial {work.number}: same configuration as trial {twin}; result reused, nothing trained")
        self._tell(work, dict(source.user_attrs["metrics"]))
        with self._lock:
            self.summary.reused += 1

    def _failure(self, work: _Work, reason: str, tail: list[str]) -> None:
        self._fail(work, reason, tail)
        with self._lock:
            self._consecutive_failures += 1
            count = self._consecutive_failures
        if count >= self.options.max_consecutive_failures:
            raise SweepAborted(f"{count} consecutive trials failed (max_consecutive_failures = "
                               f"{self.options.max_consecutive_failures}); last: trial {work.number}: {reason}")

    def _fail(self, work: _Work, reason: str, tail: list[str]) -> None:
        self.progress.done(work.number)
        work.trial.set_user_attr("failure", reason)
        if work.compute_s is not None:  # a failed job cost compute too (see sweep.records)
            work.trial.set_user_attr(COMPUTE, work.compute_s)
        if tail:
            work.trial.set_user_attr("log_tail", tail[-40:])
        self.study.tell(work.trial, state=TrialState.FAIL)
        with self._lock:
            self.summary.failed += 1
        self.progress.warn(f"trial {work.number}: FAILED: {reason}")

    def _report_best(self, number: int, values: list[float]) -> None:
        """Best so far for the live line, kept here: ``study.best_trial`` copies every trial."""
        if len(values) != 1:
            return
        sign = 1.0 if self.study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else -1.0
        with self._lock:
            if self._best is None or sign * values[0] > sign * self._best[0]:
                self._best = (values[0], number)
            value, best = self._best
        self.progress.best(f"{self.metric_names[0]}={value:.4g} (trial {best})")

    def _all_metrics(self) -> list[str]:
        return [*self.metric_names, *(c.metric for c in self.spec.constraints)]

    # ---- resume -------------------------------------------------------------------------------

    def _resume(self) -> None:
        """Re-attach RUNNING trials of dead workers to their jobs (those that never had one are replaced)."""
        for orphan in self.workers.orphans(self.client, self.spec, self.progress):
            self._reattach.append(_Work(trial=orphan.trial, number=orphan.number, learn_id=orphan.learn_id,
                                        request=orphan.request, job_id=orphan.job_id,
                                        started_mono=time.monotonic() - orphan.age_s,
                                        key=config_key(orphan.request)))
            with self._lock:
                self.summary.reattached += 1
            self.progress.info(f"trial {orphan.number}: re-attached to job {orphan.job_id} on learn block {orphan.learn_id}")


def _is_device_metric(name: str) -> bool:
    return name.rsplit(".", 1)[-1] in DEVICE_FIELDS


def _request_model(body: dict[str, Any]):  # type: ignore[no-untyped-def]
    from sweep.studio.models import SetKerasParameterRequest

    return SetKerasParameterRequest.model_validate(body)
