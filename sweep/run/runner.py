"""The ask/tell loop over slots: re-attach what dead workers left, then ask, run and tell until a stop rule says enough.

One thread per slot (learn block), at most one job per learn block at a time. Optuna's storage is
the only shared state, so several ``sweep run`` processes (or machines on PostgreSQL) can work on
one study: each trial records its worker (host, pid, heartbeat) and its job id before waiting, and
a RUNNING trial whose worker is gone is re-attached to its job instead of being trained again.
One trial's own course is :mod:`sweep.run.trial`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from sweep.errors import Interrupted, SweepAborted, SweepError, interrupt_reason
from sweep.run.budget import Budget
from sweep.run.follow import Follower, Polling
from sweep.run.keep import ModelKeeper
from sweep.run.progress import Progress
from sweep.run.retries import RETRY_OF
from sweep.run.tally import Outcome, RunSummary, Tally
from sweep.run.teller import Teller
from sweep.run.trial import TrialDriver
from sweep.run.twins import Twins
from sweep.run.work import TrialRun
from sweep.run.workers import Workers
from sweep.session.artifacts import ArtifactPlace
from sweep.session.compute import Account
from sweep.session.compute import totals as compute_totals
from sweep.session.side import label as side_label
from sweep.studio.backend import Backend, JobEvents
from sweep.study.request import TrainRequest, impulse_settings, train_request
from sweep.study.schema import PrunerSpec
from sweep.study.seeds import trial_seed
from sweep.study.space import distributions
from sweep.study.spec import StudySpec

__all__ = ["HEARTBEAT_S", "ON_STOP", "OnStop", "RunOptions", "Runner"]

log = logging.getLogger("sweep.run.runner")
_COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)
HEARTBEAT_S = 30.0  # a running trial's worker record is refreshed this often
OnStop = Literal["cancel", "leave"]
ON_STOP: tuple[OnStop, ...] = ("cancel", "leave")


@dataclass(frozen=True)
class RunOptions:
    """How a run behaves; the study file and flags fill it once at the edge."""

    target_trials: int
    time_limit_s: float | None = None
    compute_budget_s: float | None = None
    max_consecutive_failures: int = 5
    job_timeout_s: float | None = None
    polling: Polling = field(default_factory=Polling)
    heartbeat_s: float = HEARTBEAT_S
    stale_after_s: float = 180.0
    models: ArtifactPlace | None = None  # keep each complete trial's model files in this artifact store (None: not)
    # Ctrl-C/SIGTERM: cancel the running jobs and fail their trials, or leave the jobs running and their
    # trials RUNNING (job id kept, worker marked gone) for the next run to re-attach
    on_stop: OnStop = "cancel"
    # With ``leave``: told each job left running, so that the target keeps it running past this run (the local
    # studio's server runs on for it); None where jobs run on anyway (Studio).
    keep_running: Callable[[int], None] | None = None


class Runner:
    """Drives one study against one Edge Impulse project through its learn-block slots."""

    def __init__(self, spec: StudySpec, study: optuna.Study, backend: Backend, learn_ids: list[int],
                 options: RunOptions, *, progress: Progress | None = None, events: JobEvents | None = None,
                 side: bool = False, account: Account | None = None) -> None:
        # side: ``study`` is a side study (sweep.session.side): its queued trials carry their request and
        # seed; nothing is sampled, nothing pruned, and a repeat with another seed is not a twin.
        # account: where its jobs' compute is charged (its study's; a side study's jobs to the study it serves).
        if side:
            spec = replace(spec, pruner=PrunerSpec())
            if account is None:
                raise ValueError("a side study's jobs are charged to its study: give its account")
        self.account = account or Account(study, "study")
        self.spec, self.study, self.backend, self.learn_ids = spec, study, backend, list(learn_ids)
        self.options, self.side = options, side
        self.progress = progress or Progress(quiet=True)
        self.stop = threading.Event()
        self.space = {} if side else distributions(spec.space)
        self.tally = Tally()
        self.twins = Twins(seeded=side)
        self.workers = Workers(study, self.learn_ids, options.stale_after_s)
        self.budget = Budget(backend, options.compute_budget_s, lambda: compute_totals(self.account.study))
        follower = Follower(backend, polling=options.polling, stop=self.stop, job_timeout_s=options.job_timeout_s,
                            events=events, account=self.account)
        teller = Teller(spec, study, self.tally, self.twins, self.progress, options.max_consecutive_failures,
                        live_best=not side)
        keeper = ModelKeeper(study, backend, options.models.path, self.progress) if options.models else None
        if options.models is not None and not side:
            self.progress.info(f"models: each complete trial's .tflite files are kept in {options.models.describe()}")
        self.driver = TrialDriver(spec, study, backend, follower, self.workers, self.twins, teller, self.progress,
                                  heartbeat_s=options.heartbeat_s, stop=self.stop, keeper=keeper,
                                  leave_on_stop=options.on_stop == "leave", keep_running=options.keep_running)
        self._lock = threading.Lock()  # one ask at a time; the abort
        self._all_done = threading.Event()
        self._live = 0
        self._abort: SweepError | None = None
        self._reattach: deque[TrialRun] = deque()
        self._started = time.monotonic()

    @property
    def summary(self) -> RunSummary:
        return self.tally.summary

    # ---- public ---------------------------------------------------------------------------

    def run(self) -> RunSummary:
        """Resume what a dead worker left, then fill the slots until the study is done (the caller has
        refused learn blocks that another live worker uses: :meth:`Workers.refuse_busy_blocks`)."""
        self._resume()
        self._plan_progress()
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
            except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (Terminated)
                if not interrupted:
                    interrupted, why = True, interrupt_reason(exc)
                    self.progress.warn(f"{why}: leaving running jobs to run on; the next `sweep run` re-attaches "
                                       "their trials..." if self.options.on_stop == "leave" else
                                       f"{why}: cancelling running jobs and recording their trials...")
                    self._set_abort(Interrupted(why))
        if self._abort is not None:
            self.summary.stopped_reason = str(self._abort)
            raise self._abort
        return self.summary

    def _plan_progress(self) -> None:
        trials = self.study.get_trials(deepcopy=False)
        done = sum(t.state in _COUNTED for t in trials)
        queued = sum(t.state in (TrialState.WAITING, TrialState.RUNNING) for t in trials)
        total = done + queued if self.side else max(self.options.target_trials, done)
        self.progress.plan(total, done, len(self.learn_ids))

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
                    self.driver.run(work)
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

    def _next(self, learn_id: int) -> TrialRun | None:
        """The slot's next trial: a re-attached one first, else a new one unless a stop rule says no."""
        with self._lock:
            return self._reattached(learn_id) or self._ask(learn_id)

    def _reattached(self, learn_id: int) -> TrialRun | None:
        for work in list(self._reattach):
            if work.learn_id == learn_id or work.learn_id not in self.learn_ids:
                self._reattach.remove(work)
                return work
        return None

    # ---- asking -----------------------------------------------------------------------------

    def _ask(self, learn_id: int) -> TrialRun | None:
        if reason := self._out_of_time_or_grid():
            self._stop_reason(reason)
            return None
        trials = self.study.get_trials(deepcopy=False)
        done = sum(t.state in _COUNTED for t in trials)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        if self.side and not any(t.state == TrialState.WAITING for t in trials):
            return None  # a side study runs what was queued, nothing more
        if not self.side and done + running >= self.options.target_trials:
            return None
        if reason := self.budget.exhausted(running):
            self._stop_reason(reason)
            return None
        self.twins.remember(trials)
        trial = self.study.ask(self.space)
        # Trials asked (by other workers) since the count above: only they can make this one surplus.
        if self.side:
            return self._prepare_queued(trial, learn_id, trials)
        if done + running + trial.number - len(trials) >= self.options.target_trials and self._surplus(trial):
            return None
        return self._prepare(trial, learn_id, trials)

    def _out_of_time_or_grid(self) -> str | None:
        if self.options.time_limit_s is not None and time.monotonic() - self._started > self.options.time_limit_s:
            return "time limit reached"
        exhausted = getattr(self.study.sampler, "is_exhausted", None)
        if (exhausted is not None and exhausted(self.study)  # a queued trial (a retry) still runs
                and not self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))):
            return "the grid is exhausted"
        return None

    def _prepare(self, trial: optuna.Trial, learn_id: int, trials: list[FrozenTrial]) -> TrialRun:
        """The trial's request, built once, and its worker recorded before anything runs."""
        request = TrainRequest.of(train_request(self.spec, trial.params), impulse_settings(self.spec, trial.params))
        attrs = trial.user_attrs
        retry_of = attrs.get(RETRY_OF)  # a retry trains with the seed of the trial it repeats
        seed = int(attrs["seed"]) if "seed" in attrs else trial_seed(self.spec.name, trial.number,
                                                                        self.spec.training_seed)
        trial.set_user_attr("request", request.body)
        if request.impulse is not None:  # what it sets on its impulse, and its key (the body alone does not say)
            trial.set_user_attr("impulse", request.impulse)
            trial.set_user_attr("config_key", request.key)
        trial.set_user_attr("seed", seed)
        trial.set_user_attr("worker", self.workers.record(learn_id))
        twin = self.twins.start(trial.number, request.key, trials, self.workers.alive)
        origin = "retry" if retry_of is not None else next((k for k in ("warm_start", "enqueued") if k in attrs),
                                                            "sampled")
        if retry_of is not None:
            self.progress.info(f"trial {trial.number}: retry of trial {retry_of} (the same configuration and seed)")
        self.progress.events.trial_asked(trial=trial.number, label=f"trial {trial.number}", params=trial.params,
                                         learn_block=learn_id, origin=origin, seed=seed)
        return TrialRun(trial=trial, number=trial.number, learn_id=learn_id, request=request, twin=twin, seed=seed)

    def _prepare_queued(self, trial: optuna.Trial, learn_id: int, trials: list[FrozenTrial]) -> TrialRun | None:
        """A side study's queued trial: its recorded request and seed (another worker may have taken the
        last queued one since the check: then the fresh trial has none, and is dropped unrun)."""
        attrs = trial.user_attrs
        if "request" not in attrs:
            self.study.tell(trial, state=TrialState.FAIL)
            return None
        seed = int(attrs["seed"])
        request = TrainRequest.recorded(attrs["request"], attrs.get("impulse")).seeded(seed)
        trial.set_user_attr("worker", self.workers.record(learn_id))
        twin = self.twins.start(trial.number, request.key, trials, self.workers.alive)
        name = side_label(attrs)
        if RETRY_OF in attrs:
            self.progress.info(f"{name}: tried once more (its first try failed for a reason outside it)")
        self.progress.events.trial_asked(trial=trial.number, label=name, params=trial.params, learn_block=learn_id,
                                         origin="retry" if RETRY_OF in attrs else "queued", seed=seed)
        return TrialRun(trial=trial, number=trial.number, learn_id=learn_id, request=request, twin=twin, seed=seed,
                        name=name)

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
        if self.tally.stopped(reason):
            self.progress.info(f"stopping: {reason}")

    # ---- resume -------------------------------------------------------------------------------

    def _resume(self) -> None:
        """Re-attach RUNNING trials of dead workers to their jobs (those that never had one are replaced)."""
        for work in self.workers.orphans(self.backend, self.spec, self.progress, self.driver.teller.retries):
            if self.side and "seed" in work.trial.user_attrs:
                work.seed = int(work.trial.user_attrs["seed"])
                work.request = work.request.seeded(work.seed)
                work.name = side_label(work.trial.user_attrs)
            self._reattach.append(work)
            self.tally.add(Outcome.REATTACHED)
            self.progress.info(f"{work.label}: re-attached to job {work.job_id} on learn block {work.learn_id}")
            self.progress.events.trial_asked(trial=work.number, label=work.label, params=work.trial.params,
                                             learn_block=work.learn_id, origin="reattached",
                                             seed=work.trial.user_attrs.get("seed"), job_id=work.job_id)
