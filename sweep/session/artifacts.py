"""Where a study keeps its trials' model files (an Optuna ``FileSystemArtifactStore``), and reading them back.

The store is a directory, chosen once per storage kind:

- ``SWEEP_ARTIFACTS_DIR`` when set (any storage; a directory every worker of the study reaches);
- a journal or SQLite file ``DIR/NAME.journal`` / ``DIR/NAME.db``: ``DIR/NAME.artifacts/`` beside it;
- a database server (PostgreSQL ...): ``.sweep/<study>.artifacts/`` beside the study file (``SWEEP_STATE_DIR``
  if set), which only this machine sees: with workers on several machines, set ``SWEEP_ARTIFACTS_DIR``.

A complete trial records what it kept in its user attr ``model_files`` (:class:`KeptModels`); the files
themselves are Optuna artifacts of the trial (system attrs ``artifacts:<id>``), which optuna-dashboard
shows when started with ``--artifact-dir`` naming the same directory.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from optuna.trial import FrozenTrial
from pydantic import BaseModel, ValidationError

from sweep.errors import UsageError
from sweep.settings import Settings
from sweep.study.spec import StudySpec
from sweep.study.storage_url import journal_path

__all__ = ["MODEL_FILES", "ArtifactPlace", "KeptFile", "KeptModels", "artifact_place", "export_models",
           "kept_models", "model_bytes"]

MODEL_FILES = "model_files"  # user attr of a complete trial: the model files kept (KeptModels)
SUFFIX = ".artifacts"


class KeptFile(BaseModel):
    """One model file kept as an artifact: its id in the store, name, sha256, size (bytes) and download id."""

    artifact_id: str
    file: str
    sha256: str
    size: int
    download_id: str


class KeptModels(BaseModel):
    """The ``model_files`` attr: the job whose models these are, each kind kept, and why any is missing."""

    job_id: int | None = None
    float32: KeptFile | None = None
    int8: KeptFile | None = None
    error: str | None = None

    def files(self) -> dict[str, KeptFile]:
        return {kind: kept for kind, kept in (("float32", self.float32), ("int8", self.int8)) if kept is not None}


@dataclass(frozen=True)
class ArtifactPlace:
    """The artifact store's directory and why it is there (for messages)."""

    path: Path
    source: Literal["SWEEP_ARTIFACTS_DIR", "beside the storage file", "beside the study file"]

    def describe(self) -> str:
        if self.source == "beside the study file":
            return (f"{self.path} (the storage is a database server, so beside the study file; with workers on "
                    "several machines, set SWEEP_ARTIFACTS_DIR to a directory they all reach)")
        return f"{self.path} ({self.source})"


def _storage_file(url: str) -> Path | None:
    """The file a journal or SQLite storage lives in; None for a database server."""
    journal = journal_path(url)
    if journal is not None:
        return journal
    if not url.startswith("sqlite"):
        return None
    from sqlalchemy.engine import make_url  # only for SQLite URLs: journal runs never import SQLAlchemy

    database = make_url(url).database
    return Path(database).expanduser() if database else None


def artifact_place(spec: StudySpec, url: str, settings: Settings) -> ArtifactPlace:
    """Where the study at ``url`` keeps its model files (see the module's description)."""
    if settings.artifacts_dir is not None:
        return ArtifactPlace(settings.artifacts_dir.expanduser().resolve(), "SWEEP_ARTIFACTS_DIR")
    file = _storage_file(url)
    if file is not None:
        file = file.resolve()
        return ArtifactPlace(file.with_name(file.stem + SUFFIX), "beside the storage file")
    folder = settings.state_dir if settings.state_dir is not None else spec.path.resolve().parent / ".sweep"
    return ArtifactPlace(folder.resolve() / (spec.name + SUFFIX), "beside the study file")


def kept_models(trial: FrozenTrial) -> KeptModels | None:
    """What the trial kept (None: nothing recorded, e.g. a study from before models were kept)."""
    raw: Any = trial.user_attrs.get(MODEL_FILES)
    if raw is None:
        return None
    try:
        return KeptModels.model_validate(raw)
    except ValidationError:
        return None


def model_bytes(store_dir: Path, trial: FrozenTrial, kept: KeptModels, kind: str) -> bytes:
    """The trial's kept ``kind`` model file, read from the store and its sha256 checked (UsageError otherwise)."""
    from optuna.artifacts import FileSystemArtifactStore, download_artifact
    from optuna.artifacts.exceptions import ArtifactNotFound

    item = kept.files()[kind]
    with tempfile.TemporaryDirectory() as tmp:
        part = Path(tmp) / "part"
        try:
            download_artifact(artifact_store=FileSystemArtifactStore(store_dir), file_path=str(part),
                              artifact_id=item.artifact_id)
        except ArtifactNotFound:
            raise UsageError(f"trial {trial.number}'s {kind} model (artifact {item.artifact_id}) is not in "
                             f"{store_dir}; is SWEEP_ARTIFACTS_DIR the directory the run kept it in?") from None
        data = part.read_bytes()
    if hashlib.sha256(data).hexdigest() != item.sha256:
        raise UsageError(f"trial {trial.number}'s {kind} model in {store_dir} is not the file it kept "
                         f"(its sha256 is not {item.sha256})")
    return data


def _export(store_dir: Path, trial: FrozenTrial, kept: KeptModels, out: Path) -> list[Path]:
    """The trial's kept files copied into ``out``, their sha256 checked."""
    written = []
    for kind, item in kept.files().items():
        target = out / Path(item.file).name
        with tempfile.TemporaryDirectory(dir=out) as tmp:
            part = Path(tmp) / "part"
            part.write_bytes(model_bytes(store_dir, trial, kept, kind))
            part.replace(target)
        written.append(target)
    return written


def export_models(store_dir: Path, trials: list[FrozenTrial], out: Path) -> tuple[dict[int, list[Path]], list[str]]:
    """Each trial's kept model files written into ``out`` (created if need be): the files by trial number, and why
    any trial's are missing. UsageError when no trial's could be written (``out`` is then left as it was)."""
    problems: list[str] = []
    ready: list[tuple[FrozenTrial, KeptModels]] = []
    for trial in trials:
        kept = kept_models(trial)
        if kept is not None and kept.files():
            ready.append((trial, kept))
        else:
            why = kept.error if kept is not None and kept.error else "no model files were recorded on it"
            problems.append(f"trial {trial.number} kept no model files: {why}")
    created = not out.exists()
    written: dict[int, list[Path]] = {}
    for trial, kept in ready:
        out.mkdir(parents=True, exist_ok=True)
        try:
            written[trial.number] = _export(store_dir, trial, kept, out)
        except UsageError as exc:
            problems.append(str(exc))
    if not written:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise UsageError("; ".join(problems))
    return written, problems
