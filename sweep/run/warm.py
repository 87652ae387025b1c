"""Trials given before any is sampled: an earlier study's best configurations (``[warm_start]``) and
hand-written ones (``sweep run --enqueue FILE``), queued with Optuna's ``enqueue_trial``."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.errors import StudyFileError
from sweep.run.fixed_runs import top_trials
from sweep.run.progress import Progress
from sweep.session.stored import Stored, find, storage_url
from sweep.settings import Settings
from sweep.study.configs import warm_params
from sweep.study.load import load_study
from sweep.study.spec import StudySpec
from sweep.study.storage_url import redact_url

__all__ = ["enqueue_configs", "warm_sources", "warm_start"]


def _names(storage: optuna.storages.BaseStorage | None) -> set[str]:
    return {s.study_name for s in storage.get_all_studies()} if storage is not None else set()


def warm_sources(spec: StudySpec, found: Stored, settings: Settings) -> list[optuna.Study]:
    """Before anything is created, the studies ``[warm_start]`` names (a new study only): a study file
    (``*.toml``, relative to this one; its study in its own storage) or a study name in this storage."""
    if spec.warm_start is None or found.study is not None:
        return []
    sources = []
    for i, entry in enumerate(spec.warm_start.studies):
        field = f"warm_start.studies[{i}]"
        if entry.endswith(".toml"):
            other = load_study((spec.path.parent / entry).resolve(), settings)
            url = storage_url(other, None, settings)
            study = find(other, url).study
            where, name, same = f"its storage {redact_url(url)}", other.name, url == found.url
        else:
            study = None if found.storage is None or entry not in _names(found.storage) else optuna.load_study(
                study_name=entry, storage=found.storage, sampler=optuna.samplers.RandomSampler())
            where, name, same = "this study's storage", entry, True
        if name == spec.name and same:
            raise StudyFileError(str(spec.path), field, entry, "a study cannot start from itself")
        if study is None:
            raise StudyFileError(str(spec.path), field, entry, f"no study {name!r} in {where}: run it first")
        sources.append(study)
    return sources


def warm_start(spec: StudySpec, study: optuna.Study, sources: list[optuna.Study], progress: Progress) -> int:
    """A new study's first trials: each source study's ``top`` best configurations that fit this space
    (params it does not tune are dropped; a value outside its range skips that configuration, with a note;
    one already queued, from another source, is not queued twice: said too)."""
    if spec.warm_start is None or not sources or study.get_trials(deepcopy=False):
        return 0
    queued = 0
    for source in sources:
        for t in top_trials(source, spec.warm_start.top):
            params, note = warm_params(spec, t.params)
            origin = f"{source.study_name} trial {t.number}"
            if params is None:
                progress.info(f"warm start: {origin} skipped: {note}")
                continue
            there = _enqueue(study, params, {"warm_start": origin})
            if there is not None:
                progress.info(f"warm start: {origin} not queued: the same configuration as {_named(there)}")
                continue
            queued += 1
            progress.info(f"warm start: {origin} queued" + (f" ({note})" if note else ""))
    return queued


def enqueue_configs(study: optuna.Study, configs: list[dict[str, Any]], source: str, progress: Progress) -> int:
    """Hand-written configurations (checked by :func:`sweep.study.configs.load_enqueue_file`), each once: one
    that repeats an earlier one of the file, or a trial the study already has (a resumed run given the same
    file), is not queued again, and the message says how many were queued and why the others were not."""
    queued, left = 0, []
    for i, params in enumerate(configs):
        there = _enqueue(study, params, {"enqueued": f"{source}[{i}]"})
        if there is None:
            queued += 1
        else:
            left.append(f"trial[{i}] is the same as {_named(there)}")
    said = f"enqueued {queued} of {len(configs)} configuration(s) from {source}"
    said += "; they run first" if queued else ""
    progress.info(said + (f"; not queued again: {'; '.join(left)}" if left else ""))
    return queued


def _enqueue(study: optuna.Study, params: dict[str, Any], attrs: dict[str, Any]) -> FrozenTrial | None:
    """Queue ``params`` unless a trial of the study (queued, running or finished) was given or took the same
    values: then that trial, and nothing is queued (Optuna's ``skip_if_exists`` rule, but saying which)."""
    for t in study.get_trials(deepcopy=False):
        if t.system_attrs.get("fixed_params", t.params) == params:
            return t
    study.enqueue_trial(params, user_attrs=attrs)
    return None


def _named(trial: FrozenTrial) -> str:
    """How a message names an existing trial: by what gave it (``mine.toml[0]``, a warm start) and its number."""
    given = trial.user_attrs.get("enqueued") or trial.user_attrs.get("warm_start")
    state = "queued" if trial.state == TrialState.WAITING else trial.state.name
    return f"{given} (trial {trial.number}, {state})" if given else f"trial {trial.number} ({state})"
