"""What ``sweep test`` measured, kept with the study: one record per tested trial, in the same storage.

A finished Optuna trial cannot take new attributes, so a trial's test result is a user attr of the study that
holds the trial (the study itself, or its side study ``<name>:baseline`` / ``<name>:confirm``), named
``test:<trial number>``: one storage write per tested trial, made as soon as it is tested, so an interrupted
``sweep test`` resumes where it stopped. A record names the model files it scored (their sha256): a trial
whose record names the files it keeps is not tested again.

Test figures are never used to choose a trial: nothing that ranks trials (the samplers, ``best``, ``top_trials``,
the report's front) reads these records; the report and ``sweep best`` show them beside validation.
"""

from __future__ import annotations

import optuna
from pydantic import BaseModel, ValidationError

__all__ = ["PREFIX", "FeatureJob", "ModelScore", "Tested", "record", "records"]

PREFIX = "test:"


class ModelScore(BaseModel):
    """One model file's figures on the testing windows (argmax per window, as validation)."""

    sha256: str
    accuracy: float
    correct: int
    windows: int
    loss: float


class FeatureJob(BaseModel):
    """A generate-features job ``sweep test`` ran to make a finalist's testing features, and its compute."""

    job_id: int
    compute_s: float | None = None


class Tested(BaseModel):
    """A trial's test: its models' figures, the testing data they were scored on, and what to know about it."""

    trial: int
    job_id: int | None = None  # the job that trained the models
    models: dict[str, ModelScore]  # "int8", "float32"
    dsp_id: int
    data_digest: str  # sha256 (16 hex) of the testing windows' features and classes
    samples: int | None = None  # distinct testing samples (None: the labels named none)
    # The local studio: whether the model's job ran before the project's test split was made (job id < the split's
    # first job), so that it may have trained on what is now the testing data. None: not known (Studio, where the
    # testing category is apart from the start, or a model whose job is unknown).
    before_split: bool | None = None
    feature_jobs: list[FeatureJob] = []
    tested_at: str


def _key(number: int) -> str:
    return f"{PREFIX}{number}"


def record(study: optuna.Study, test: Tested) -> None:
    """Keep ``test`` with the study that holds its trial (one storage write)."""
    study.set_user_attr(_key(test.trial), test.model_dump(mode="json"))


def records(study: optuna.Study | None) -> dict[int, Tested]:
    """The study's test records by trial number (an unreadable one is left out: it is tested again)."""
    if study is None:
        return {}
    out: dict[int, Tested] = {}
    for key, value in study.user_attrs.items():
        if key.startswith(PREFIX) and key[len(PREFIX):].isdigit():
            try:
                out[int(key[len(PREFIX):])] = Tested.model_validate(value)
            except ValidationError:
                continue
    return out
