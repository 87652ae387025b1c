"""One settings object built once at the edge from the environment (``EI_*`` and ``SWEEP_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "DEFAULT_STUDIO_URL"]

DEFAULT_STUDIO_URL = "https://studio.edgeimpulse.com/v1"


class Settings(BaseSettings):
    """What the environment says. Precedence is flag > study file > environment > default,
    resolved once in :mod:`sweep.target`; the API key comes only from here, never a file."""

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
    # Where the embedded local studio keeps projects, jobs and models.
    data_dir: Path = Path(".sweep/studio")
    # Where default study storages (journal files) live when a study file names none.
    state_dir: Path | None = None
    reports_dir: Path = Path("reports")
    # Optuna storage URL used when neither a flag nor the study file names one.
    storage: str | None = None
    # Polling of a running job: first interval, growth factor, cap (seconds).
    poll_initial_s: float = 1.0
    poll_factor: float = 1.5
    poll_max_s: float = 30.0
    http_timeout_s: float = 30.0

    @property
    def has_api_key(self) -> bool:
        """Whether Studio credentials are set (an empty EI_API_KEY counts as none)."""
        return self.api_key is not None and bool(self.api_key.get_secret_value())
