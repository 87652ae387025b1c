"""A project's downloads list (``GET /api/{projectId}/downloads``) and the float32/int8 TFLite models found in it.

Studio lists every file of an impulse there (models, features, data); a learn block's model is an
entry whose ``link`` is ``.../learn-data/{learnId}/model/{modelDownloadId}``. The ids (public scripts
show ``tflite-float`` and ``tflite-int8``) are read from the list, never assumed: an entry's ``id``,
else the last part of its link; its kind from its ``type``/``name``/id (``TensorFlow Lite (float32)``,
``TensorFlow Lite (int8 quantized)``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from sweep.studio.models import WireModel

__all__ = ["KINDS", "Download", "ModelDownload", "ModelKind", "ProjectDownloadsResponse", "listed",
           "model_downloads", "model_link"]

ModelKind = Literal["float32", "int8"]
KINDS: tuple[ModelKind, ...] = ("float32", "int8")
_LINK = re.compile(r"/learn-data/(\d+)/model/([^/?#]+)")
_PREFERRED: dict[ModelKind, tuple[str, ...]] = {"float32": ("tflite-float", "tflite-float32"),
                                                "int8": ("tflite-int8",)}


class Download(WireModel):
    """One entry of the downloads list (the official ``Download``)."""

    id: str | None = None
    name: str
    type: str
    size: str | None = None
    link: str
    impulse_id: float | None = None


class ProjectDownloadsResponse(WireModel):
    success: bool
    error: str | None = None
    downloads: list[Download]


@dataclass(frozen=True)
class ModelDownload:
    """A learn block's model file as the list names it: what to ask ``/learn-data/{learnId}/model/{id}`` for."""

    kind: ModelKind
    learn_id: int
    download_id: str
    name: str


def model_link(project_id: int, learn_id: int, download_id: str) -> str:
    """The link Studio gives a learn block's model (under the API's ``/v1``)."""
    return f"/v1/api/{project_id}/learn-data/{learn_id}/model/{download_id}"


def _kind(entry: Download, download_id: str) -> ModelKind | None:
    text = f"{entry.type} {entry.name} {download_id}".lower()
    if "tensorflow lite" not in text and "tflite" not in text:
        return None
    if "int8" in text or "quantized" in text:
        return "int8"
    if "float" in text:
        return "float32"
    return None


def model_downloads(downloads: list[Download], learn_id: int) -> dict[ModelKind, ModelDownload]:
    """The float32 and int8 TFLite models of ``learn_id`` in the list (either may be missing); when several
    entries look like one kind, the one with the usual id wins, else the first listed."""
    found: dict[ModelKind, list[ModelDownload]] = {}
    for entry in downloads:
        hit = _LINK.search(entry.link)
        if hit is None or int(hit.group(1)) != learn_id:
            continue
        download_id = entry.id or hit.group(2)
        kind = _kind(entry, download_id)
        if kind is not None:
            found.setdefault(kind, []).append(ModelDownload(kind, learn_id, download_id, entry.name))
    return {kind: next((c for c in candidates if c.download_id in _PREFERRED[kind]), candidates[0])
            for kind, candidates in found.items()}


def listed(downloads: list[Download], limit: int = 8) -> str:
    """What the list holds, for a message: ``id (type)`` of its first entries."""
    shown = [f"{entry.id or entry.link.rsplit('/', 1)[-1]} ({entry.type})" for entry in downloads[:limit]]
    more = f" and {len(downloads) - limit} more" if len(downloads) > limit else ""
    return (", ".join(shown) + more) if shown else "nothing"
