"""Ending well: the best configuration onto the user's own learn block (trained there on request), the clones removed.

A sweep on cloned slots leaves the user's impulse as it found it. ``sweep best --apply`` writes the
chosen trial's configuration to the source impulse's learn block, and with ``--train`` trains it
there and waits, so the project ends holding the best model. ``sweep cleanup`` deletes the clones
this study made (recorded on it, or named ``sweep:<study>:<k>``) and nothing else.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import optuna

from sweep.run.follow import Follower, JobResult, Polling
from sweep.run.progress import Progress
from sweep.run.slots import Slots
from sweep.session.clones import forget_slots, read_slots, slot_name
from sweep.session.compute import Account
from sweep.studio.backend import Backend
from sweep.study.request import TrainRequest
from sweep.study.spec import StudySpec

__all__ = ["Cleanup", "apply_best", "cleanup", "source_learn_id"]


def source_learn_id(spec: StudySpec, study: optuna.Study, backend: Backend, progress: Progress) -> int:
    """The user's own learn block: the one the clones copy (slots), or the first one the study names."""
    if spec.target.slot_count == 0:
        return (spec.target.learn_blocks or [])[0]
    record = read_slots(study)
    if record is not None:
        return record.source_learn_id
    return Slots(spec, backend, progress).plan([], None).source_learn.id


def apply_best(backend: Backend, learn_id: int, request: TrainRequest, *, train: bool, polling: Polling,
               seed: int | None = None, account: Account | None = None) -> JobResult | None:
    """Save ``request`` on ``learn_id``; with ``train``, train it there (with the trial's ``seed``, its compute
    charged to ``account``) and wait for the model (its result)."""
    backend.save_keras_config(learn_id, request.model)
    if not train:
        return None
    job_id = backend.start_training(learn_id, request.model, seed=seed)
    follower = Follower(backend, polling=polling, stop=threading.Event(), account=account)
    job = follower.wait(job_id, cancel_on_stop=False)
    if not job.finished_successful:
        raise follower.failure(job)
    return follower.result(job, learn_id, need_device=False, selected=request.model.selected_model_type)


@dataclass(frozen=True)
class Cleanup:
    """An impulse ``sweep cleanup`` deletes: its id and name, and whether the study recorded it."""

    impulse_id: int
    name: str
    recorded: bool


def cleanup(spec: StudySpec, study: optuna.Study, backend: Backend, *, dry_run: bool) -> list[Cleanup]:
    """The study's clones that exist (recorded ones, and any impulse named like one), deleted unless ``dry_run``.

    An impulse the study recorded whose name is no longer a slot name of this study was renamed by
    someone: it is left alone, as is every other impulse.
    """
    prefix = slot_name(spec.name, 0)[:-1]
    record = read_slots(study)
    recorded = {c.impulse_id: n for n, c in (record.clones.items() if record else [])}
    doomed: list[Cleanup] = []
    numbers: set[int] = set()
    for impulse in backend.impulses().impulses:
        ours = impulse.name.startswith(prefix) and impulse.name[len(prefix):].isdigit()
        if ours:
            doomed.append(Cleanup(impulse.id, impulse.name, impulse.id in recorded))
            numbers.add(int(impulse.name[len(prefix):]))
    if dry_run:
        return doomed
    for item in doomed:
        backend.delete_impulse(item.impulse_id)
    forget_slots(study, numbers | set(recorded.values()))
    return doomed
