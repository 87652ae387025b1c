"""A complete trial's float32 and int8 .tflite models, downloaded from its learn block before the slot's next job
and kept as the trial's Optuna artifacts; a failed download is recorded on the trial and warned about once.

A learn block holds only its latest model, so the files are fetched by the slot's own thread right after
its job's result, while nothing else can train there. The ids come from the impulse's downloads list
(:mod:`sweep.studio.downloads`); the impulse is the one holding the learn block (a slot's clone).
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import threading
from pathlib import Path
from typing import Protocol

import optuna

from sweep.errors import StudioError
from sweep.run.progress import Progress
from sweep.run.work import TrialRun
from sweep.session.artifacts import MODEL_FILES, KeptFile, KeptModels
from sweep.studio.backend import Impulses, Models
from sweep.studio.downloads import KINDS, ModelDownload, ModelKind, listed, model_downloads

__all__ = ["ModelKeeper"]


class _Backend(Models, Impulses, Protocol):
    """What keeping models asks of a backend."""


class ModelKeeper:
    """Keeps each complete trial's model files in the study's artifact store (shared by the slot threads)."""

    def __init__(self, study: optuna.Study, backend: _Backend, folder: Path, progress: Progress) -> None:
        from optuna.artifacts import FileSystemArtifactStore

        self.study, self.backend, self.folder, self.progress = study, backend, folder, progress
        self.store = FileSystemArtifactStore(folder)
        self._impulse_of: dict[int, int] = {}
        self._lock = threading.Lock()
        self._warned = False
        self.failed = 0  # trials of this run whose models were not (all) kept

    def keep(self, work: TrialRun) -> None:
        """Download and keep the trial's models; what went wrong is recorded on it, and never fails it."""
        kept, problems = KeptModels(job_id=work.job_id), []
        try:
            downloads = self.backend.downloads(self._impulse_id(work.learn_id))
        except StudioError as exc:
            self._record(work, kept, [f"the downloads list could not be read: {exc}"])
            return
        found = model_downloads(downloads, work.learn_id)
        for kind in KINDS:
            entry = found.get(kind)
            if entry is None:
                problems.append(f"the downloads list has no {kind} TensorFlow Lite model of learn block "
                                f"{work.learn_id} (it lists {listed(downloads)})")
                continue
            try:
                kept = kept.model_copy(update={kind: self._keep(work, kind, entry)})
            except (StudioError, OSError) as exc:
                problems.append(f"{kind}: {exc}")
        self._record(work, kept, problems)

    def _record(self, work: TrialRun, kept: KeptModels, problems: list[str]) -> None:
        if problems:
            kept = kept.model_copy(update={"error": "; ".join(problems)})
        work.trial.set_user_attr(MODEL_FILES, kept.model_dump(mode="json", exclude_none=True))
        if problems:
            self._failed(work, "; ".join(problems))

    def _impulse_id(self, learn_id: int) -> int | None:
        """The impulse holding the learn block (the project's impulses are read once per run); None: the default."""
        with self._lock:
            if learn_id in self._impulse_of:
                return self._impulse_of[learn_id]
        listing = self.backend.impulses()
        mapping = {block.id: impulse.id for impulse in listing.impulses for block in impulse.learn_blocks}
        with self._lock:
            self._impulse_of.update(mapping)
            return self._impulse_of.get(learn_id)

    def _keep(self, work: TrialRun, kind: ModelKind, entry: ModelDownload) -> KeptFile:
        from optuna.artifacts import upload_artifact

        data = self.backend.download_model(work.learn_id, entry.download_id)
        if not data:
            raise OSError(f"the {entry.download_id!r} download of learn block {work.learn_id} is empty")
        name = f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', self.study.study_name)}-trial{work.number}-{kind}.tflite"
        self.folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            artifact_id = upload_artifact(artifact_store=self.store, file_path=str(path), study_or_trial=work.trial,
                                          mimetype="application/octet-stream")
        return KeptFile(artifact_id=artifact_id, file=name, sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                        download_id=entry.download_id)

    def _failed(self, work: TrialRun, reason: str) -> None:
        with self._lock:
            self.failed += 1
            first, self._warned = not self._warned, True
        if first:
            self.progress.warn(f"trial {work.number}: its .tflite models were not kept: {reason}. The trial counts "
                               f"all the same; later trials whose models are not kept are noted in `sweep status` "
                               f"(user attr {MODEL_FILES}.error), without another warning")
        else:
            self.progress.info(f"trial {work.number}: models not kept: {reason}")
