"""One settings object built once at the edge from the environment (``EI_*`` and ``SWEEP_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Generic, Literal, NamedTuple, TypeVar

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from sweep.errors import SettingsError

__all__ = ["DEFAULT_STUDIO_URL", "Chosen", "Settings", "choose", "load_settings"]

T = TypeVar("T")
Source = Literal["flag", "study file", "environment", "default"]

DEFAULT_STUDIO_URL = "https://studio.edgeimpulse.com/v1"


class Chosen(NamedTuple, Generic[T]):
    """A value and where it came from (for messages that name the flag, file field or variable)."""

    value: T
    source: Source


def choose(*, flag: T | None = None, study_file: T | None = None, environment: T | None = None,
           default: T) -> Chosen[T]:
    """flag > study file > environment > default: the one place sweep's precedence is written."""
    candidates: tuple[tuple[T | None, Source], ...] = (
        (flag, "flag"), (study_file, "study file"), (environment, "environment"))
    for value, source in candidates:
        if value is not None:
            return Chosen(value, source)
    return Chosen(default, "default")


class Settings(BaseSettings):
    """What the environment says, built once at the edge (:func:`load_settings`); :func:`choose` weighs
    it against flags and the study file. The API key comes only from here, never a file."""

    model_config = SettingsConfigDict(env_prefix="SWEEP_", extra="ignore", frozen=True)

    api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("EI_API_KEY", "SWEEP_API_KEY")
    )
    studio_url: str | None = Field(
        default=None, validation_alias=AliasChoices("EI_STUDIO_URL", "SWEEP_STUDIO_URL")
    )
    project_id: int | None = Field(
        default=None, validation_alias=AliasChoices("EI_PROJECT_ID", "SWEEP_PROJECT_ID")
    )
    # Where the embedded local studio keeps projects, jobs and models (relative: to the working directory), for a
    # study's first command; later ones use the studio the study recorded (sweep.session.home).
    data_dir: Path = Path(".sweep/studio")
    # Where default study storages (journal files) live when a study file names none.
    state_dir: Path | None = None
    reports_dir: Path = Path("reports")
    # Where the trials' model files are kept (an Optuna artifact store); None: chosen by the storage kind.
    artifacts_dir: Path | None = None
    # Download each complete trial's float32/int8 .tflite models and keep them (0: do not).
    keep_models: bool = True
    # Optuna storage URL used when neither a flag nor the study file names one.
    storage: str | None = None
    # Polling of a running job: first interval, growth factor, cap (seconds).
    poll_initial_s: float = 1.0
    poll_factor: float = 1.5
    poll_max_s: float = 30.0
    poll_lag: float = 0.03  # never wait longer than this share of the time a job has been followed
    http_timeout_s: float = 30.0
    # Follow jobs over the project socket (finishes and log lines as they happen); 0 = poll only.
    socket: bool = True
    # A RUNNING trial whose worker (on another host) has not beaten its heart for this long is taken over.
    stale_after_s: float = 180.0

    @property
    def has_api_key(self) -> bool:
        """Whether Studio credentials are set (an empty EI_API_KEY counts as none)."""
        return self.api_key is not None and bool(self.api_key.get_secret_value())


def load_settings() -> Settings:
    """The environment's settings, or a SettingsError naming the variable and its value (never the key's)."""
    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "environment"
        # a field's own name stands for SWEEP_<NAME>; an alias (EI_API_KEY ...) is the variable itself
        variable = f"SWEEP_{name.upper()}" if name in Settings.model_fields else name
        shown = "" if "API_KEY" in variable else f" (got {err.get('input')!r})"
        raise SettingsError(variable, f"{err['msg'][:1].lower()}{err['msg'][1:]}{shown}") from None
