"""Side studies of a study: its baseline and its confirmation repeats, fixed configurations kept beside it.

A side study lives in the same storage as its study, named ``<study>:baseline`` or ``<study>:confirm``
(a ``:`` cannot occur in a study file's name, so no user study is ever taken for one). Each of its
trials trains one recorded request body with one seed; none has Optuna params, so the study's own
sampler never sees them (a trial without params would empty the intersection search space that
TPE, GP and CMA-ES sample in). Work is queued with ``enqueue_trial`` (WAITING trials with the
request, seed and origin as user attrs): the runner asks them one by one, so several workers share
a side study, and an interrupted one resumes, exactly as a study does.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import optuna
from optuna.trial import TrialState

from sweep.session.storage import load_or_create

__all__ = ["BASELINE", "CONFIRM", "Item", "enqueue", "label", "open_side", "pending", "side_name", "side_study"]

BASELINE: Literal["baseline"] = "baseline"
CONFIRM: Literal["confirm"] = "confirm"
Kind = Literal["baseline", "confirm"]


@dataclass(frozen=True)
class Item:
    """One fixed training: its request body, seed, and where it comes from (``of``: the trial it repeats,
    None for the baseline; ``repeat``: 1, 2, ... for confirmation repeats, 0 for the baseline itself)."""

    body: dict[str, Any]
    seed: int
    of: int | None
    repeat: int
    impulse: dict[str, Any] | None = None  # what it sets on its slot's impulse first (whole-impulse studies)

    def attrs(self) -> dict[str, Any]:
        attrs = {"request": self.body, "seed": self.seed, "of": self.of, "repeat": self.repeat}
        return attrs if self.impulse is None else {**attrs, "impulse": self.impulse}


def label(attrs: dict[str, Any]) -> str:
    """How a side trial is named in messages, from its attrs: ``baseline``, ``trial 5 repeat 2``."""
    of, repeat = attrs.get("of"), int(attrs.get("repeat", 0))
    return ("baseline" if of is None else f"trial {of}") + (f" repeat {repeat}" if repeat else "")


def side_name(study_name: str, kind: Kind) -> str:
    return f"{study_name}:{kind}"


def side_study(study: optuna.Study, kind: Kind) -> optuna.Study | None:
    """The side study if it exists (nothing is created)."""
    name = side_name(study.study_name, kind)
    storage = study._storage
    if name not in {s.study_name for s in storage.get_all_studies()}:
        return None
    return optuna.load_study(study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler())


def open_side(study: optuna.Study, kind: Kind) -> optuna.Study:
    """The side study, created when absent, with its study's directions."""
    directions = [d.name.lower() for d in study.directions]
    side = load_or_create(study._storage, side_name(study.study_name, kind), directions,
                          optuna.samplers.RandomSampler(), optuna.pruners.NopPruner())
    if study.metric_names and side.metric_names != study.metric_names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            side.set_metric_names(study.metric_names)
    return side


def _key(attrs: dict[str, Any]) -> tuple[int | None, int]:
    return attrs.get("of"), int(attrs.get("repeat", 0))


def enqueue(side: optuna.Study, items: Sequence[Item]) -> int:
    """Queue the items that are neither done, running nor queued already; how many were queued."""
    taken = {_key(t.user_attrs) for t in side.get_trials(deepcopy=False)
             if t.state in (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)}
    added = 0
    for item in items:
        if (item.of, item.repeat) not in taken:
            side.enqueue_trial({}, user_attrs=item.attrs())
            taken.add((item.of, item.repeat))
            added += 1
    return added


def pending(side: optuna.Study) -> int:
    """Queued trials not yet asked."""
    return sum(t.state == TrialState.WAITING for t in side.get_trials(deepcopy=False))
