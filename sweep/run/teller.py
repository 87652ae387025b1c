"""Recording how a trial ended, in the study and the run's tally: complete, reused, failed or pruned."""

from __future__ import annotations

import time

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.errors import SweepAborted
from sweep.run.follow import JobResult
from sweep.run.progress import Progress
from sweep.run.retries import Retries
from sweep.run.tally import Outcome, Tally
from sweep.run.twins import Twins
from sweep.run.work import TrialRun
from sweep.session.artifacts import MODEL_FILES
from sweep.session.records import COMPUTE, MODEL, model_attr
from sweep.study.pruner import pruned_reason
from sweep.study.spec import StudySpec
from sweep.units import metrics_text

__all__ = ["Teller"]

_RESULT_ATTRS = ("metrics", MODEL, MODEL_FILES, "curves", "confusion", "class_names")  # the last three: older studies


class Teller:
    """Tells the study each trial's end (values, constraints, state, the attributes reports read)."""

    def __init__(self, spec: StudySpec, study: optuna.Study, tally: Tally, twins: Twins, progress: Progress,
                 max_consecutive_failures: int, *, live_best: bool = True) -> None:
        self.spec, self.study, self.tally, self.twins, self.progress = spec, study, tally, twins, progress
        self.live_best = live_best  # off for side studies: a baseline or a repeat is not the sweep's best
        self.max_consecutive_failures = max_consecutive_failures
        self.metric_names = [o.metric for o in spec.objectives]
        self.required = [*self.metric_names, *(c.metric for c in spec.constraints)]
        self._maximize = [d == optuna.study.StudyDirection.MAXIMIZE for d in study.directions]
        self.retries = Retries(study, twins.key_of)

    def complete(self, work: TrialRun, result: JobResult, wall_time_s: float) -> None:
        """A trained model: its metrics, curves and confusion matrices, then its values."""
        metrics = {**result.metrics, "wall_time_s": wall_time_s}
        missing = [m for m in self.required if m not in metrics]
        if missing:
            available = ", ".join(sorted(k for k in metrics if k.count(".") <= 1)[:30])
            self.failure(work, f"metric {missing[0]!r} is not in the job's results (available: {available})", [])
            return
        if work.watch is not None and not work.watch.multi:
            work.watch.update(result.curves.get(self.spec.pruner.curve, []))  # the epochs polls missed
        work.trial.set_user_attr("metrics", metrics)
        work.trial.set_user_attr(MODEL, model_attr(result.curves, result.confusion, list(result.metadata.class_names)))
        self._tell(work, metrics, reused=False)
        self.tally.add(Outcome.COMPLETED)

    def reuse(self, work: TrialRun, twin: int) -> None:
        """An identical request was already trained: tell its result again instead of training."""
        source = self.study.get_trials(deepcopy=False)[twin]
        for key in _RESULT_ATTRS:
            if key in source.user_attrs:
                work.trial.set_user_attr(key, source.user_attrs[key])
        work.trial.set_user_attr("duplicate_of", twin)
        self.progress.info(f"{work.label}: same configuration as trial {twin}; result reused, nothing trained")
        self._tell(work, dict(source.user_attrs["metrics"]), reused=True, twin=twin)
        self.tally.add(Outcome.REUSED)

    def failure(self, work: TrialRun, reason: str, tail: list[str], *, transient: bool = False) -> None:
        """A failed trial (replaced by a new one, or by its retry when ``transient``); too many in a row stop the
        sweep (a retried configuration counts once: when its retry fails)."""
        count = self.fail(work, reason, tail, transient=transient)
        if count >= self.max_consecutive_failures:
            raise SweepAborted(f"{count} consecutive trials failed (max_consecutive_failures = "
                               f"{self.max_consecutive_failures}); last: {work.label}: {reason}")

    def fail(self, work: TrialRun, reason: str, tail: list[str], *, transient: bool = False) -> int:
        """Record FAIL with its reason, log tail and compute, and queue its configuration's retry when the failure
        was ``transient`` (:mod:`sweep.run.retries`); the consecutive failures so far."""
        self.progress.done(work.number)
        why_not = self.retries.why_not(work.number, work.request.key) if transient else None
        retry = transient and why_not is None
        note = ("; not the configuration's fault: it is queued to be tried once more" if retry
                else f"; not tried again: {why_not}" if why_not else "")
        work.trial.set_user_attr("failure", reason + note)
        if work.compute_s is not None:  # a failed job cost compute too (see sweep.session.records)
            work.trial.set_user_attr(COMPUTE, work.compute_s)
        if tail:
            work.trial.set_user_attr("log_tail", tail[-40:])
        self.study.tell(work.trial, state=TrialState.FAIL)
        if retry:  # after our tell: only the worker that failed the trial queues its retry
            self.retries.queue(work.number, work.trial.params, work.trial.user_attrs, work.seed)
        count = self.tally.add(Outcome.FAILED, in_a_row=not retry)
        self.progress.warn(f"{work.label}: FAILED: {reason}{note}")
        self._finished(work, "FAIL", failure=reason + note)
        return count

    def pruned(self, work: TrialRun, info: dict[str, object]) -> None:
        """A job stopped early by its curve (``info``: epoch, curve, value)."""
        work.trial.set_user_attr("pruned", info)
        if work.compute_s is not None:  # a cancelled job cost compute too (see sweep.session.records)
            work.trial.set_user_attr(COMPUTE, work.compute_s)
        self.study.tell(work.trial, state=TrialState.PRUNED)
        self.tally.add(Outcome.PRUNED)
        self.progress.done(work.number)
        count = self.progress.counted(time.monotonic() - work.started_mono)
        self.progress.info(f"{work.label}: {pruned_reason(info)}; job {work.job_id} cancelled{count}")
        self._finished(work, "PRUNED", pruned=info)

    def pruned_as_twin(self, work: TrialRun, twin: FrozenTrial) -> None:
        """The same configuration was pruned: so is this trial, without training it."""
        work.trial.set_user_attr("pruned", twin.user_attrs.get("pruned") or {})
        work.trial.set_user_attr("duplicate_of", twin.number)
        self.study.tell(work.trial, state=TrialState.PRUNED)
        self.tally.add(Outcome.PRUNED)
        self.progress.done(work.number)
        count = self.progress.counted(None)
        self.progress.info(f"{work.label}: same configuration as trial {twin.number}, which was pruned; "
                           f"pruned too, nothing trained{count}")
        self._finished(work, "PRUNED", pruned=twin.user_attrs.get("pruned") or {}, reused_from=twin.number)

    def _tell(self, work: TrialRun, metrics: dict[str, float], *, reused: bool, twin: int | None = None) -> None:
        feasible = True
        for c in self.spec.constraints:
            value = c.value(metrics)
            feasible = feasible and value <= 0
            work.trial.set_constraint(str(c), value)
        values = [metrics[m] for m in self.metric_names]
        self.study.tell(work.trial, values)
        self.twins.told(work.request.key, work.number)
        shown = metrics_text(zip(self.metric_names, values, strict=True))
        wall = None if reused else metrics.get("wall_time_s")  # (not work.trial.user_attrs: a deep copy of all)
        count = self.progress.counted(wall)
        self.progress.info(f"{work.label}: complete {shown} ({metrics.get('wall_time_s', 0):.1f} s){count}")
        self._finished(work, "COMPLETE", values=values, metrics=metrics, reused_from=twin)
        # the live line's best of each objective (study.best_trial would copy every trial)
        if self.live_best and feasible:
            best = self.tally.best(work.number, values, self._maximize)
            self.progress.best({m: {"value": v, "trial": n} for m, (v, n) in zip(self.metric_names, best, strict=True)})

    def _finished(self, work: TrialRun, state: str, *, values: list[float] | None = None,
                  metrics: dict[str, float] | None = None, failure: str | None = None,
                  pruned: dict[str, object] | None = None, reused_from: int | None = None) -> None:
        """The ``trial_finished`` event of a trial just told to the study."""
        compute = work.compute_s if work.compute_s is not None or metrics is None else metrics.get("compute_time_s")
        self.progress.events.trial_finished(
            trial=work.number, label=work.label, state=state, job_id=work.job_id,
            wall_s=time.monotonic() - work.started_mono, compute_s=0.0 if reused_from is not None else compute,
            values=values, metrics=metrics, failure=failure, pruned=pruned, reused_from=reused_from)
