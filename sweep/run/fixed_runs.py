"""What side studies train: the baseline (the source learn block's own configuration) and confirmation repeats."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.run.impulse_prep import source_settings
from sweep.run.progress import Progress
from sweep.run.runner import Runner, RunOptions
from sweep.run.tally import RunSummary
from sweep.session.side import BASELINE, Item, enqueue, open_side, side_study
from sweep.studio.backend import Backend, JobEvents
from sweep.studio.models import KerasResponse, SetKerasParameterRequest
from sweep.study.seeds import trial_seed
from sweep.study.spec import StudySpec

__all__ = ["baseline_item", "baseline_request", "baseline_runner", "confirm_items", "run_side", "side_runner",
           "top_trials"]

# The saved configuration's fields that are also train request fields (a baseline trains exactly these).
_REQUEST_FIELDS = ("mode", "script", "visual_layers", "training_cycles", "learning_rate", "batch_size",
                   "train_test_split", "auto_class_weights", "augmentation_policy_image",
                   "augmentation_policy_spectrogram", "profile_int8", "skip_embeddings_and_memory",
                   "selected_model_type")


def baseline_request(config: KerasResponse) -> SetKerasParameterRequest:
    """The train request that trains a learn block's saved configuration again."""
    values: dict[str, Any] = {name: getattr(config, name) for name in _REQUEST_FIELDS}
    if values["batch_size"] is None:
        values["batch_size"] = config.default_batch_size
    if values["mode"] != "expert":
        values["script"] = None
    return SetKerasParameterRequest.model_validate({k: v for k, v in values.items() if v is not None})


def baseline_item(spec: StudySpec, backend: Backend, source_learn_id: int) -> Item:
    """The baseline: ``source_learn_id``'s configuration as saved now (``GET /training/keras/{learnId}``),
    trained with the seed trial 0 would have; in a whole-impulse study, on the source's DSP settings and window."""
    body = baseline_request(backend.keras_config(source_learn_id)).wire()
    impulse = source_settings(spec, backend) if spec.space.tunes_impulse else None
    return Item(body=body, seed=trial_seed(spec.name, 0, spec.training_seed), of=None, repeat=0, impulse=impulse)


def top_trials(study: optuna.Study, k: int) -> list[FrozenTrial]:
    """The ``k`` best completed feasible trials by the first objective (the Pareto front first, for
    several objectives), best first; ties keep trial order. Reused twins are left out (their
    configuration is their twin's)."""
    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if "duplicate_of" not in t.user_attrs and "request" in t.user_attrs
              and all(v <= 0 for v in t.constraints.values())]
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    front = {t.number for t in study.best_trials} if len(study.directions) > 1 else set()
    trials.sort(key=lambda t: (t.number not in front, sign * t.values[0], t.number))
    return trials[:k]


def confirm_items(study: optuna.Study, spec: StudySpec, top: list[FrozenTrial], repeats: int,
                  baseline: FrozenTrial | None) -> list[Item]:
    """``repeats`` retrainings of each chosen trial (and of the baseline, when it completed), each with its
    own seed: a hash of the study, the trial and the repeat, so a rerun of ``confirm`` queues the same."""
    items = [Item(body=dict(t.user_attrs["request"]), seed=trial_seed(spec.name, t.number, spec.training_seed, r),
                  of=t.number, repeat=r, impulse=t.user_attrs.get("impulse"))
             for t in top for r in range(1, repeats + 1)]
    if baseline is not None:
        items += [Item(body=dict(baseline.user_attrs["request"]), seed=trial_seed(spec.name, -1, None, r),
                       of=None, repeat=r, impulse=baseline.user_attrs.get("impulse")) for r in range(1, repeats + 1)]
    return items


def side_runner(spec: StudySpec, side: optuna.Study, backend: Backend, learn_ids: list[int], options: RunOptions,
                progress: Progress, events: JobEvents | None) -> Runner:
    """The runner that trains what ``side`` has queued on the run's slots (its study's compute budget is not
    charged); its summary is the side study's part of the run."""
    options = replace(options, compute_budget_s=None, max_consecutive_failures=max(options.max_consecutive_failures, 2))
    return Runner(spec, side, backend, learn_ids, options, progress=progress, events=events, side=True)


def run_side(spec: StudySpec, side: optuna.Study, backend: Backend, learn_ids: list[int], options: RunOptions,
             progress: Progress, events: JobEvents | None) -> RunSummary:
    """Train what ``side`` has queued on the run's slots (see :func:`side_runner`)."""
    return side_runner(spec, side, backend, learn_ids, options, progress, events).run()


def baseline_runner(spec: StudySpec, study: optuna.Study, backend: Backend, learn_ids: list[int],
                    options: RunOptions, progress: Progress, events: JobEvents | None,
                    source_learn_id: int) -> Runner | None:
    """The runner of a new study's baseline (or of the one an interrupted run left: re-attached, its trial
    counted in the runner's summary), queued first; None when there is nothing to train. An older study
    begun without one gets none (its source block may hold a trial's configuration by now)."""
    side = side_study(study, BASELINE)
    if side is None:
        if study.get_trials(deepcopy=False):
            return None
        side = open_side(study, BASELINE)
    if not side.get_trials(deepcopy=False):
        item = baseline_item(spec, backend, source_learn_id)
        enqueue(side, [item])
        progress.info(f"baseline: the source learn block {source_learn_id}'s own configuration, trained first "
                      f"on a slot (seed {item.seed}); --no-baseline skips it")
    if not any(t.state in (TrialState.WAITING, TrialState.RUNNING) for t in side.get_trials(deepcopy=False)):
        return None
    return side_runner(spec, side, backend, learn_ids, options, progress, events)
