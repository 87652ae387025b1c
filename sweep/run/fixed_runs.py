"""What side studies train: the baseline (the source learn block's own configuration) and confirmation repeats."""

from __future__ import annotations

from dataclasses import replace

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.run.impulse_prep import source_settings
from sweep.run.progress import Progress
from sweep.run.runner import Runner, RunOptions
from sweep.run.tally import RunSummary
from sweep.session.compute import Account
from sweep.session.side import BASELINE, Item, enqueue, open_side, side_study
from sweep.session.trainable import refusals
from sweep.studio.backend import Backend, JobEvents
from sweep.studio.models import KerasResponse
from sweep.study.saved import left_behind, saved_request
from sweep.study.seeds import trial_seed
from sweep.study.spec import StudySpec

__all__ = ["baseline_item", "baseline_runner", "confirm_items", "queue_baseline", "run_side", "side_runner",
           "top_trials"]

def baseline_item(spec: StudySpec, config: KerasResponse, backend: Backend) -> Item:
    """The baseline: a learn block's configuration as saved now (``GET /training/keras/{learnId}``, every field
    a train request carries: :func:`~sweep.study.saved.saved_request`), trained with the seed trial 0 would
    have; in a whole-impulse study, on the source's DSP settings and window."""
    body = saved_request(config).wire()
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


def side_runner(spec: StudySpec, study: optuna.Study, side: optuna.Study, backend: Backend, learn_ids: list[int],
                options: RunOptions, progress: Progress, events: JobEvents | None) -> Runner:
    """The runner that trains what ``side`` (a side study of ``study``) has queued on the run's slots; its jobs
    are charged to ``study`` and count against its compute budget; its summary is the side study's part of the run."""
    options = replace(options, max_consecutive_failures=max(options.max_consecutive_failures, 2))
    account = Account(study, side.study_name.rsplit(":", 1)[-1])
    return Runner(spec, side, backend, learn_ids, options, progress=progress, events=events, side=True,
                  account=account)


def run_side(spec: StudySpec, study: optuna.Study, side: optuna.Study, backend: Backend, learn_ids: list[int],
             options: RunOptions, progress: Progress, events: JobEvents | None) -> RunSummary:
    """Train what ``side`` has queued on the run's slots (see :func:`side_runner`)."""
    return side_runner(spec, study, side, backend, learn_ids, options, progress, events).run()


def queue_baseline(spec: StudySpec, study: optuna.Study, backend: Backend, source_learn_id: int,
                   progress: Progress) -> None:
    """A new study's baseline, decided before any job: queued in ``<name>:baseline``, or skipped with the reason
    when the target cannot train what the source block holds (the local studio's refusals). An older study
    begun without one gets none (its source block may hold a trial's configuration by now)."""
    side = side_study(study, BASELINE)
    if (side is None and study.get_trials(deepcopy=False)) or (side is not None and side.get_trials(deepcopy=False)):
        return
    config = backend.keras_config(source_learn_id)
    item = baseline_item(spec, config, backend)
    refused = refusals(spec, saved_request(config))
    if refused:
        progress.warn(f"baseline skipped: the local studio cannot train source learn block {source_learn_id}'s "
                      f"configuration ({'; '.join(refused)}); the study runs without one (--no-baseline: no note)")
        return
    enqueue(side or open_side(study, BASELINE), [item])
    behind = ", ".join(left_behind(config))
    progress.info(f"baseline: the source learn block {source_learn_id}'s own configuration, trained first on a slot "
                  f"(seed {item.seed}; {f'not in a train request, so not copied: {behind}; ' if behind else ''}"
                  "--no-baseline skips it)")


def baseline_runner(spec: StudySpec, study: optuna.Study, backend: Backend, learn_ids: list[int],
                    options: RunOptions, progress: Progress, events: JobEvents | None) -> Runner | None:
    """The runner of the baseline :func:`queue_baseline` queued (or of the one an interrupted run left:
    re-attached, its trial counted in the runner's summary); None when there is nothing to train."""
    side = side_study(study, BASELINE)
    if side is None or not any(t.state in (TrialState.WAITING, TrialState.RUNNING)
                               for t in side.get_trials(deepcopy=False)):
        return None
    return side_runner(spec, study, side, backend, learn_ids, options, progress, events)
