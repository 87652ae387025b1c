"""One trial, start to end: reuse or await a twin, else submit -> record the job id -> follow -> tell.

The job id is recorded on the trial before any wait, so a restart re-attaches to the job instead of
training again; a stop (Ctrl-C, SIGTERM) cancels the job and fails the trial, or with ``leave_on_stop``
leaves the job running and the trial RUNNING, its worker marked gone, for the next run to re-attach.
While the job runs, every poll refreshes the live line and (every ``heartbeat_s``) the trial's worker
record, and (every ``pruner.check_every``) reads its epoch curve; a curve that says stop ends the
following, and the job is cancelled and recorded PRUNED.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.errors import (
    ApiError,
    AuthError,
    Interrupted,
    JobError,
    JobFailed,
    ProtocolError,
    TransientError,
)
from sweep.run.curve import CurveWatch
from sweep.run.follow import Follower, JobLog, JobResult, OnPoll
from sweep.run.impulse_prep import ImpulsePrep
from sweep.run.keep import ModelKeeper
from sweep.run.progress import Progress
from sweep.run.tally import Outcome
from sweep.run.teller import Teller
from sweep.run.twins import Twins
from sweep.run.work import TrialRun
from sweep.run.workers import Workers
from sweep.studio.backend import Backend
from sweep.studio.metrics import is_device_metric
from sweep.studio.models import Job
from sweep.study.spec import StudySpec

__all__ = ["TrialDriver"]

log = logging.getLogger("sweep.run.trial")


class TrialDriver:
    """Runs trials one at a time per slot thread; the collaborators are shared by all slots."""

    def __init__(self, spec: StudySpec, study: optuna.Study, backend: Backend, follower: Follower,
                 workers: Workers, twins: Twins, teller: Teller, progress: Progress, *, heartbeat_s: float,
                 stop: threading.Event, keeper: ModelKeeper | None = None, leave_on_stop: bool = False,
                 keep_running: Callable[[int], None] | None = None) -> None:
        self.spec, self.study, self.backend, self.follower = spec, study, backend, follower
        self.workers, self.twins, self.teller, self.progress = workers, twins, teller, progress
        self.heartbeat_s, self.stop, self.leave_on_stop = heartbeat_s, stop, leave_on_stop
        self.keep_running = keep_running  # tells the target a job is left running (the local studio runs on)
        self.keeper = keeper  # keeps a complete trial's model files before the slot's next job
        self.need_device = any(is_device_metric(m) for m in teller.required)
        # whole-impulse studies set DSP parameters and the window on the slot's clone before each job
        self.impulse = ImpulsePrep(spec, backend, follower, progress) if spec.space.tunes_impulse else None
        self._blind_told = threading.Lock()  # held for good once a log without epochs was warned about

    def run(self, work: TrialRun) -> None:
        try:
            self._run(work)
        finally:
            self.twins.end(work.number)

    def _run(self, work: TrialRun) -> None:
        if work.job_id is None and work.twin is not None:
            twin = self._await_twin(work)
            if twin is not None and twin.state == TrialState.PRUNED:
                self.teller.pruned_as_twin(work, twin)
                return
        known = None if work.job_id is not None else self.twins.completed(work.request.key)
        if known is not None:
            self.teller.reuse(work, known)
            return
        try:
            result = self._train(work)
        except Interrupted:
            if self.leave_on_stop and work.job_id is not None:
                self._leave(work)
            else:
                self.teller.fail(work, f"interrupted; job {work.job_id} cancelled" if work.job_id
                                 else "interrupted before submission", [])
            raise
        except (AuthError, TransientError) as exc:
            # The job (if any) runs on: leave the trial RUNNING with its job id for a later re-attach; without
            # a job, the next run looks for one its lost submission made, else fails the trial and (transient)
            # queues its configuration once more: say why it stopped.
            if work.job_id is None:
                work.trial.set_user_attr("stopped_by", str(exc))
                self.progress.warn(f"{work.label}: stopped before its job was submitted; the next `sweep run` "
                                   "tries its configuration again")
            raise
        except (JobError, ApiError, ProtocolError) as exc:
            self._failed(work, exc)
            return
        if result is None:
            self._prune(work)
            return
        wall_time_s = time.monotonic() - work.started_mono
        if self.keeper is not None:
            self.keeper.keep(work)  # the learn block holds only its latest model: now, before its next job
        self.teller.complete(work, result, wall_time_s)

    def _failed(self, work: TrialRun, exc: JobError | ApiError | ProtocolError) -> None:
        """The trial failed: with its job's reason, log tail and compute; transient (the job vanished, its server
        stopped) or not, as the error's type and fields say."""
        if isinstance(exc, JobFailed):
            if exc.compute_time_s is not None:
                work.compute_s = exc.compute_time_s
            self.teller.failure(work, exc.message, exc.log_tail, transient=exc.transient)
        else:
            self.teller.failure(work, str(exc), [], transient=exc.transient)

    def _train(self, work: TrialRun) -> JobResult | None:
        """Submit (unless re-attached) and follow the job; its result, or None when its curve said stop."""
        if work.job_id is None:
            if self.stop.is_set():
                raise Interrupted()
            if self.impulse is not None:  # a slot's features are this job's to make (run.slots leaves them)
                work.request = self.impulse.prepare(work)
                work.trial.set_user_attr("request", work.request.body)  # as sent: its reshape columns set
                if self.stop.is_set():
                    raise Interrupted()
            work.job_id = self.backend.start_training(work.learn_id, work.request.model, seed=work.seed)
            work.trial.set_user_attr("job_id", work.job_id)  # before waiting: a restart re-attaches
            self.progress.info(f"{work.label}: job {work.job_id} started on learn block {work.learn_id}")
            self.progress.events.job_started(trial=work.number, label=work.label, job_id=work.job_id,
                                             learn_block=work.learn_id)
        if self.spec.pruner.name != "none" and work.watch is None:
            work.watch = CurveWatch(self.study, work.trial, self.spec.pruner)
        cancel = not self.leave_on_stop
        try:
            job = self.follower.wait(work.job_id, on_poll=self._on_poll(work), cancel_on_stop=cancel)
        finally:
            self.progress.done(work.number)
        work.compute_s = job.compute_time
        if job.finished is None:
            return None
        result = self.follower.result(job, work.learn_id, need_device=self.need_device or self.impulse is not None,
                                      selected=work.request.model.selected_model_type,
                                      on_poll=self._on_poll(work, "profiling"), cancel_on_stop=cancel)
        self.progress.done(work.number)
        if self.impulse is not None:
            result.metrics.update(self.impulse.device_metrics(work.learn_id, result.metrics))
        self._warn_if_blind(work)
        return result

    def _warn_if_blind(self, work: TrialRun) -> None:
        """Once per run: a pruner is set, yet a job that trained to the end showed it no epoch of its curve."""
        if work.watch is None or work.watch.reported or work.job_id is None or self._blind_told.locked():
            return
        if work.watch.blind(JobLog(self.backend, work.job_id)) and self._blind_told.acquire(blocking=False):
            pruner = self.spec.pruner
            self.progress.warn(f"pruning: {work.label}'s job {work.job_id} trained to the end, and its log shows no "
                               f"{pruner.curve} per epoch (Keras lines `Epoch i/n` ... `{pruner.curve}: 0.9`): the "
                               f"{pruner.name} pruner cannot judge such a job, nor stop it early (said once)")

    def _on_poll(self, work: TrialRun, what: str = "") -> OnPoll:
        """Refresh the live line; every ``heartbeat_s`` the trial's worker record; every
        ``pruner.check_every`` (while training) its curve, which may say to stop following."""
        last_beat = last_check = time.monotonic()

        def on_poll(job: Job, joblog: JobLog) -> bool:
            nonlocal last_beat, last_check
            state = what or ("running" if job.started else "queued")
            epoch = joblog.epoch() if self.progress.wants_epochs and not what else None
            self.progress.running(work.number, work.label, job.id, work.learn_id, state,
                                  time.monotonic() - work.started_mono, epoch)
            if time.monotonic() - last_beat >= self.heartbeat_s:
                work.trial.set_user_attr("worker", self.workers.record(work.learn_id))
                last_beat = time.monotonic()
            if (not what and work.watch is not None and job.finished is None
                    and time.monotonic() - last_check >= self.spec.pruner.check_every):
                last_check = time.monotonic()
                work.prune = work.watch.check(joblog)
                return work.prune is not None
            return False

        return on_poll

    def _leave(self, work: TrialRun) -> None:
        """``--on-stop leave``: the job runs on; the trial stays RUNNING with its job id, its worker marked gone so
        that the next run (on any host) re-attaches it at once."""
        assert work.job_id is not None
        self.progress.done(work.number)
        if self.keep_running is not None:
            try:
                self.keep_running(work.job_id)
            except OSError as exc:  # the job may then stop with its server: the next run says so, and trains anew
                self.progress.warn(f"{work.label}: could not keep the server running for job {work.job_id}: {exc}")
        work.trial.set_user_attr("worker", self.workers.left(work.learn_id))
        self.teller.tally.add(Outcome.LEFT)
        self.progress.warn(f"{work.label}: job {work.job_id} left running on learn block {work.learn_id}; "
                           "the next `sweep run` of this study re-attaches it")
        self.progress.events.trial_left(trial=work.number, label=work.label, job_id=work.job_id,
                                        learn_block=work.learn_id)

    def _prune(self, work: TrialRun) -> None:
        """Stop the job, wait until it has ended (its learn block is free again), record PRUNED."""
        assert work.job_id is not None and work.prune is not None
        interrupted: Interrupted | None = None
        try:
            self.backend.cancel_job(work.job_id)
            work.compute_s = self.follower.wait(work.job_id, cancel_on_stop=False).compute_time
        except Interrupted as err:  # Ctrl-C while the cancelled job winds down: record, then stop
            interrupted = err
        except (ApiError, ProtocolError, JobError) as err:
            log.warning("%s: cancelling pruned job %s: %s", work.label, work.job_id, err)
        epoch, value = work.prune
        self.teller.pruned(work, {"epoch": epoch, "curve": self.spec.pruner.curve, "value": value})
        if interrupted is not None:
            raise interrupted

    def _await_twin(self, work: TrialRun) -> FrozenTrial | None:
        """Wait until ``work.twin`` (the same configuration, running) ends: its final trial, or None when
        its worker died (then this trial trains). The heartbeat goes on meanwhile."""
        assert work.twin is not None
        self.progress.info(f"{work.label}: same configuration as trial {work.twin}, still running; "
                           "waiting for its result instead of training it twice")
        last_beat = time.monotonic()
        try:
            while True:
                twin = self.study.get_trials(deepcopy=False)[work.twin]
                if twin.state != TrialState.RUNNING:
                    self.twins.remember([twin])
                    return twin
                if not self.twins.is_ours(work.twin) and not self.workers.alive(twin.user_attrs.get("worker") or {}):
                    return None
                self.progress.running(work.number, work.label, None, work.learn_id, f"waiting for trial {work.twin}",
                                      time.monotonic() - work.started_mono)
                if time.monotonic() - last_beat >= self.heartbeat_s:
                    work.trial.set_user_attr("worker", self.workers.record(work.learn_id))
                    last_beat = time.monotonic()
                if self.stop.wait(min(1.0, self.follower.polling.max_s)):
                    raise Interrupted()
        except Interrupted:
            self.teller.fail(work, f"interrupted while waiting for trial {work.twin}, the same configuration", [])
            raise
