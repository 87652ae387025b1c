"""``sweep test``: each finalist's kept models scored on the project's testing windows, as validation scored them.

The finalists are the study's own choice, made on validation (:func:`~sweep.run.fixed_runs.top_trials`: the best
``k`` feasible trials, the Pareto front first), then the baseline when it kept models, then every confirmation
repeat of those (``sweep confirm``). Nothing here ranks trials: the test figures never choose.

The testing windows come from the project, through ``GET /dsp-data/{dspId}/x|y/testing`` of the DSP block feeding
the slot's learn block: for a whole-impulse finalist the slot is first set to its DSP parameters and window and
its features generated (as its trial did; :class:`~sweep.run.impulse_prep.ImpulsePrep`), each such job's compute
recorded and checked against the study's ``compute_budget`` before it starts. Each model file runs through the
local studio's interpreter (:mod:`sweep.local.inference`: argmax per window, no uncertainty threshold), and the
trial's result is kept at once (:mod:`sweep.session.tested`): an interrupted ``sweep test`` resumes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.errors import SweepAborted, UsageError
from sweep.run.fixed_runs import top_trials
from sweep.run.follow import Follower
from sweep.run.impulse_prep import ImpulsePrep
from sweep.run.progress import Progress
from sweep.session import records, tested
from sweep.session.artifacts import kept_models, model_bytes
from sweep.session.side import BASELINE, CONFIRM, side_study
from sweep.studio.backend import Backend, DspData
from sweep.studio.dsp_data import WindowData
from sweep.study.request import TrainRequest
from sweep.study.spec import StudySpec
from sweep.units import duration

__all__ = ["Finalist", "Tester", "finalists"]


class _Backend(Backend, DspData, Protocol):
    """What testing asks of a backend: a sweep's, and the DSP data routes."""


@dataclass(frozen=True)
class Finalist:
    """A trial to test: how messages name it, the study holding it, the configuration it trains (``of``: the trial
    number; None for the baseline) and which training of it (0: the original, then confirmation repeats)."""

    label: str
    owner: optuna.Study
    trial: FrozenTrial
    of: int | None
    repeat: int = 0


def finalists(study: optuna.Study, k: int) -> list[Finalist]:
    """The best ``k`` trials by the study's own ranking, the baseline (if it completed), then the repeats of both."""
    chosen = [Finalist(f"trial {t.number}", study, t, t.number) for t in top_trials(study, k)]
    base_side = side_study(study, BASELINE)
    done = base_side.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if base_side is not None else []
    if base_side is not None and done:
        chosen.append(Finalist("baseline", base_side, done[0], None))
    confirm = side_study(study, CONFIRM)
    if confirm is not None:
        wanted = {f.of for f in chosen}
        repeats = [t for t in confirm.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                   if t.user_attrs.get("of") in wanted]
        order = [f.of for f in chosen]
        repeats.sort(key=lambda t: (order.index(t.user_attrs.get("of")), int(t.user_attrs.get("repeat", 0))))
        chosen += [Finalist(f"{'baseline' if t.user_attrs.get('of') is None else 'trial ' + str(t.user_attrs['of'])} "
                            f"repeat {t.user_attrs.get('repeat')}", confirm, t, t.user_attrs.get("of"),
                            int(t.user_attrs.get("repeat", 0))) for t in repeats]
    return chosen


@dataclass
class _Data:
    """The testing windows of one DSP configuration, and the feature jobs that made them (charged once)."""

    windows: WindowData
    dsp_id: int
    jobs: list[tested.FeatureJob] = field(default_factory=list)


class Tester:
    """Tests finalists one by one on the slot (or learn block) ``learn_id``."""

    def __init__(self, spec: StudySpec, backend: _Backend, learn_id: int, store_dir: Path, follower: Follower,
                 progress: Progress, used_s: Callable[[], float]) -> None:
        self.spec, self.backend, self.learn_id, self.store_dir = spec, backend, learn_id, store_dir
        self.progress, self.used_s = progress, used_s
        self.prep = ImpulsePrep(spec, backend, follower, progress)
        self._data: dict[str, _Data] = {}
        self._charged: set[str] = set()

    def test(self, finalist: Finalist) -> tested.Tested:
        """Score the finalist's kept models on the testing windows and keep the result with its study."""
        trial = finalist.trial
        kept = kept_models(trial)
        if kept is None or set(kept.files()) != {"float32", "int8"}:
            why = kept.error if kept is not None and kept.error else "no model files were recorded on it"
            raise UsageError(f"{finalist.label} kept no float32 and int8 models to test: {why}")
        key = json.dumps(trial.user_attrs.get("impulse"), sort_keys=True)
        data = self._windows(finalist, key)
        labels = records.class_names(trial) or [str(i) for i in range(int(data.windows.y.max(initial=0)) + 1)]
        from sweep.local.inference import probabilities, score  # the interpreter: only when a model runs

        scores: dict[str, tested.ModelScore] = {}
        for kind, item in kept.files().items():
            model = model_bytes(self.store_dir, trial, kept, kind)
            try:
                got = score(probabilities(model, data.windows.x, mute_native_logs=True), data.windows.y, labels)
            except ValueError as exc:
                raise UsageError(f"{finalist.label}'s {kind} model cannot score the testing windows of DSP block "
                                 f"{data.dsp_id}: {exc}") from None
            scores[kind] = tested.ModelScore(sha256=item.sha256, accuracy=got.accuracy, correct=got.correct,
                                             windows=got.rows, loss=got.loss)
        first_job = (data.windows.split or {}).get("firstJob")
        before = None if first_job is None or kept.job_id is None else kept.job_id < int(first_job)
        samples = data.windows.samples
        result = tested.Tested(trial=trial.number, job_id=kept.job_id, models=scores, dsp_id=data.dsp_id,
                               data_digest=data.windows.digest,
                               samples=len(set(samples.tolist())) if samples is not None else None,
                               before_split=before, feature_jobs=[] if key in self._charged else data.jobs,
                               tested_at=datetime.now(UTC).isoformat())
        self._charged.add(key)
        tested.record(finalist.owner, result)
        return result

    def _dsp_id(self) -> int:
        impulse = next((i for i in self.backend.impulses().impulses
                        if any(b.id == self.learn_id for b in i.learn_blocks)), None)
        if impulse is None:
            raise UsageError(f"no impulse of the project holds learn block {self.learn_id} any more")
        dsp = next(b for b in impulse.learn_blocks if b.id == self.learn_id).dsp
        if len(dsp) != 1:
            raise UsageError(f"learn block {self.learn_id} takes {len(dsp)} DSP blocks ({dsp}); sweep test reads the "
                             "testing windows of a learn block fed by one")
        return int(dsp[0])

    def _windows(self, finalist: Finalist, key: str) -> _Data:
        """The testing windows of the finalist's DSP configuration: downloaded once per configuration; for a
        whole-impulse finalist, the slot set to it and its features generated first (within the budget)."""
        if key in self._data:
            return self._data[key]
        impulse = finalist.trial.user_attrs.get("impulse")
        jobs: list[tested.FeatureJob] = []
        if impulse is not None:
            self.prep.before_job = lambda: self._check_budget(finalist)
            before = len(self.prep.started)
            request = TrainRequest.recorded(dict(finalist.trial.user_attrs.get("request") or {}), impulse)
            self.prep.prepare_block(self.learn_id, request, finalist.label)
            jobs = [tested.FeatureJob(job_id=j, compute_s=self.backend.job_status(j).compute_time)
                    for j in self.prep.started[before:]]
        dsp_id = self._dsp_id()
        n_classes = len(records.class_names(finalist.trial)) or len(self.backend.metadata(self.learn_id).class_names)
        windows = self.backend.dsp_data(dsp_id, "testing", n_classes)
        if not len(windows.y):
            raise UsageError(f"the project has no testing data: DSP block {dsp_id} gives no testing windows "
                             "(add samples to its testing category)")
        self._data[key] = _Data(windows, dsp_id, jobs)
        return self._data[key]

    def _check_budget(self, finalist: Finalist) -> None:
        cap = self.spec.compute_budget_s
        if cap is None:
            return
        used = self.used_s()  # every job charged to the study so far, this command's feature jobs included
        if used >= cap:
            raise SweepAborted(f"compute budget spent: {duration(used)} of {duration(cap)} used, so no feature job "
                               f"is started for {finalist.label}'s testing data (compute_budget in {self.spec.path})")
