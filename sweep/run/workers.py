"""Who runs each trial (host, pid, learn block, heartbeat), whether that worker lives, and what a dead one left."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.errors import SettingsError
from sweep.run.progress import Progress
from sweep.run.retries import Retries
from sweep.run.work import TrialRun
from sweep.studio.backend import Training
from sweep.study.request import TrainRequest, impulse_settings, train_request
from sweep.study.spec import StudySpec

__all__ = ["Workers"]


class Workers:
    """This process as a worker of ``study``, and the other workers as the study records them."""

    def __init__(self, study: optuna.Study, learn_ids: list[int], stale_after_s: float,
                 slot_of: dict[int, int] | None = None) -> None:
        self.study, self.learn_ids, self.stale_after_s = study, list(learn_ids), stale_after_s
        self.slot_of = dict(slot_of or {})  # learn block -> slot number, when the study trains on clones
        self.host = socket.gethostname()

    def record(self, learn_id: int) -> dict[str, Any]:
        """The ``worker`` attr of a trial this process runs on ``learn_id``, with a fresh heartbeat."""
        return {"host": self.host, "pid": os.getpid(), "learn_id": learn_id, "heartbeat": _now().isoformat()}

    def left(self, learn_id: int) -> dict[str, Any]:
        """The ``worker`` attr of a trial this process stopped following on purpose (``--on-stop leave``): gone."""
        return self.record(learn_id) | {"left": _now().isoformat()}

    def alive(self, worker: dict[str, Any]) -> bool:
        """Another worker's process on this host exists, or one elsewhere has beaten its heart lately (a worker
        that left its trial, ``--on-stop leave``, is gone at once)."""
        if not worker or worker.get("left"):
            return False
        if worker.get("host") == self.host:
            pid = int(worker.get("pid", 0))
            return pid != os.getpid() and pid > 0 and _pid_alive(pid)
        try:
            beat = datetime.fromisoformat(str(worker["heartbeat"]))
        except (KeyError, ValueError):
            return False
        return _now() - beat < timedelta(seconds=self.stale_after_s)

    def busy(self) -> dict[int, str]:
        """Learn block -> who is using it (a live worker's RUNNING trial), over the whole study."""
        taken: dict[int, str] = {}
        for ft in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            worker = ft.user_attrs.get("worker") or {}
            if worker.get("learn_id") is not None and self.alive(worker):
                who = f"host {worker.get('host')}, pid {worker.get('pid')}, trial {ft.number}"
                taken[int(worker["learn_id"])] = who
        return taken

    def refuse_busy_blocks(self, slot_count: int = 0) -> None:
        """One job per learn block: a block a live worker is using is not this worker's to train on. On a study
        of ``slot_count`` slots (``slot_of`` names the recorded ones), the refusal names the slots still free."""
        taken = self.busy()
        for lid in self.learn_ids:
            if lid not in taken:
                continue
            who = f"in use by another live worker of this study ({taken[lid]})"
            if lid in self.slot_of:
                raise SettingsError("--slots", f"slot {self.slot_of[lid]} (learn block {lid}) is {who}; a slot runs "
                                    f"one job at a time: {self._free_slots(taken, slot_count)}")
            raise SettingsError(
                "--learn-blocks",
                f"learn block {lid} is {who}; a learn block runs one job at a time: give each worker its own "
                "blocks, e.g. --learn-blocks 12,13")

    def _free_slots(self, taken: dict[int, str], slot_count: int) -> str:
        """What to do instead: the study's slots no live worker uses, or how to get another."""
        busy = {self.slot_of[lid] for lid in taken if lid in self.slot_of}
        free = [n for n in range(1, slot_count + 1) if n not in busy]
        if free:
            return f"give this worker a free one, --slots {','.join(map(str, free))}"
        only = "its only slot is" if slot_count == 1 else f"all {slot_count} slots of the study are"
        return (f"{only} taken (target.slots = {slot_count}): wait for that worker to end, or raise target.slots "
                "for another worker (each slot is a clone of your impulse)")

    def orphans(self, backend: Training, spec: StudySpec, progress: Progress, retries: Retries | None = None
                ) -> Iterator[TrialRun]:
        """Take over RUNNING trials of dead workers that have a job; fail those that never had one (a failure
        that says nothing about the configuration: with ``retries``, it is queued once more, else replaced)."""
        trials = self.study.get_trials(deepcopy=False)
        owned = {int(t.user_attrs["job_id"]) for t in trials if "job_id" in t.user_attrs}
        for ft in trials:
            if ft.state != TrialState.RUNNING:
                continue
            worker = ft.user_attrs.get("worker")
            if worker is None and _age_s(ft) < self.stale_after_s:
                continue  # just asked by a live worker, whose next write is its worker attr
            if worker and self.alive(worker):
                continue
            worker = worker or {}
            trial = optuna.Trial(self.study, ft._trial_id)
            learn_id = int(worker.get("learn_id", self.learn_ids[0]))
            job_id = ft.user_attrs.get("job_id")
            if job_id is None and ft.datetime_start is not None:
                # its POST may have been answered after the worker died: look the job up, never
                # taking a job another trial already owns
                found = backend.find_train_job(learn_id, created_after=ft.datetime_start.astimezone(UTC),
                                              exclude=owned)
                if found is not None:
                    job_id = found.id
                    trial.set_user_attr("job_id", job_id)
            if job_id is None:
                self._lost(ft, trial, spec, progress, retries)
                continue
            trial.set_user_attr("worker", self.record(learn_id))
            recorded = ft.user_attrs.get("request")
            request = (TrainRequest.recorded(recorded, ft.user_attrs.get("impulse")) if recorded
                       else TrainRequest.of(train_request(spec, ft.params), impulse_settings(spec, ft.params)))
            yield TrialRun(trial=trial, number=ft.number, learn_id=learn_id, request=request, job_id=int(job_id),
                           started_mono=time.monotonic() - max(_age_s(ft), 0.0))

    def _lost(self, ft: FrozenTrial, trial: optuna.Trial, spec: StudySpec, progress: Progress,
              retries: Retries | None) -> None:
        """Fail a trial whose worker stopped before submitting its job (``stopped_by``: why, when it knew), and
        queue its configuration once more (or say why not)."""
        why = f" ({ft.user_attrs['stopped_by']})" if ft.user_attrs.get("stopped_by") else ""
        why_not: str | None = "replaced by a new trial"
        then = "replaced by a new trial"
        if retries is not None:  # a trial asked but never prepared has only its params
            key = None if "request" in ft.user_attrs else TrainRequest.of(
                train_request(spec, ft.params), impulse_settings(spec, ft.params)).key
            why_not = retries.why_not(ft.number, key)
            then = ("its configuration is queued to be tried once more" if why_not is None
                    else f"not tried again: {why_not}")
        trial.set_user_attr("failure", f"its worker stopped before a job was submitted{why}; {then}")
        self.study.tell(trial, state=TrialState.FAIL)
        if retries is not None and why_not is None:  # after our tell: a worker racing us for it queues nothing
            retries.queue(ft.number, ft.params, ft.user_attrs)
        progress.info(f"trial {ft.number}: its worker stopped before submitting its job; marked failed, {then}")


def _now() -> datetime:
    return datetime.now(UTC)


def _age_s(ft: FrozenTrial) -> float:
    if ft.datetime_start is None:
        return 0.0
    return (_now() - ft.datetime_start.astimezone(UTC)).total_seconds()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
