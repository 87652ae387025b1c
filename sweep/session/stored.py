"""A study in its storage: found without creating anything, checked against its file, created, its facts recorded."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.storages import BaseStorage

from sweep.errors import StudyFileError, UsageError
from sweep.session.artifacts import ArtifactPlace, artifact_place
from sweep.session.storage import (
    check_directions,
    check_storage_url,
    default_storage_url,
    existing_study,
    load_or_create,
    open_storage,
    peek_storage,
)
from sweep.settings import Settings, choose
from sweep.study.pruner import make_pruner
from sweep.study.sampler import make_sampler
from sweep.study.space import outline
from sweep.study.spec import StudySpec
from sweep.study.storage_url import redact_url

__all__ = ["Stored", "create", "find", "open_existing", "record_study_attrs", "storage_url"]


def storage_url(spec: StudySpec, flag: str | None, settings: Settings) -> str:
    """The study's storage URL by the one precedence; a bad URL names where it came from (the study
    file's own was checked when the file loaded)."""
    chosen = choose(flag=flag, study_file=spec.storage, environment=settings.storage,
                    default=default_storage_url(spec.path, spec.name, settings.state_dir))
    if chosen.source == "flag":
        return check_storage_url(chosen.value, "--storage")
    if chosen.source == "environment":
        return check_storage_url(chosen.value, "SWEEP_STORAGE")
    return chosen.value


@dataclass(frozen=True)
class Stored:
    """What the storage at ``url`` already holds: the storage and the study, each None when absent."""

    url: str
    storage: BaseStorage | None
    study: optuna.Study | None
    models: ArtifactPlace | None = None  # where a run keeps its trials' .tflite files (None: it keeps none)


def find(spec: StudySpec, url: str, settings: Settings | None = None) -> Stored:
    """The storage and the study if they already exist; nothing is created either way. With ``settings`` (a
    run), also where its model files are kept (:mod:`sweep.session.artifacts`), unless SWEEP_KEEP_MODELS=0."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = peek_storage(url)
    models = artifact_place(spec, url, settings) if settings is not None and settings.keep_models else None
    return Stored(url, storage, existing_study(storage, spec.name), models)


def open_existing(spec: StudySpec, url: str) -> optuna.Study:
    """The study for commands that only read it; one that never ran is an error, and leaves no file."""
    study = find(spec, url).study
    if study is None:
        raise UsageError(f"no study named {spec.name!r} in {redact_url(url)}; run `sweep run {spec.path}` first")
    check_directions(study, spec.directions)  # its values are read by the file's objectives
    return study


def check_compatible(study: optuna.Study, spec: StudySpec) -> None:
    """An existing study takes this run's trials only with the same directions and target."""
    check_directions(study, spec.directions)
    ran_on = study.user_attrs.get("target")
    if ran_on is not None and ran_on != spec.target.label:
        # Its RUNNING trials hold job ids of the other target: re-attaching them here would be wrong.
        raise StudyFileError(str(spec.path), "target", spec.target.label,
                             f"study {spec.name!r} already ran on {ran_on}; it cannot take trials from another "
                             "target: give this run another study name or storage")


def create(spec: StudySpec, stored: Stored, worker: str) -> optuna.Study:
    """Open the study for a run, creating storage and study if needed, with the file's sampler and pruner."""
    storage = stored.storage or open_storage(stored.url)
    # A resumed run must not replay the first run's seeded draws: shift the seed by the trials so far.
    n_existing = len(stored.study.get_trials(deepcopy=False)) if stored.study is not None else 0
    sampler = make_sampler(spec.sampler, spec, n_existing_trials=n_existing, worker=worker)
    return load_or_create(storage, spec.name, spec.directions, sampler, make_pruner(spec))


def record_study_attrs(study: optuna.Study, spec: StudySpec) -> None:
    """The study file's facts the reports and later runs read (written only when they changed)."""
    wanted: dict[str, Any] = {
        "study_file": str(spec.path),
        "target": spec.target.label,
        "objectives": [o.metric for o in spec.objectives],
        "directions": spec.directions,
        "constraints": [str(c) for c in spec.constraints],
        "device": spec.device,
        "space_outline": outline(spec.space, spec.fixed),
    }
    current = study.user_attrs
    for key, value in wanted.items():
        if current.get(key) != value:
            study.set_user_attr(key, value)
    names = [o.metric for o in spec.objectives]
    if study.metric_names != names:  # optuna-dashboard and Optuna's own plots name the objectives by these
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)
