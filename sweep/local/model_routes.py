"""Routes of trained model files: ``GET /downloads?impulseId=`` lists them, ``GET /learn-data/{learnId}/model/{id}``
serves one; a learn block's model is the one its latest successful train job wrote (as on Studio).

The answers have the official shapes (``ProjectDownloadsResponse``, and the file's bytes as
``application/octet-stream``); ids and types follow what Studio lists (``tflite-float``, ``tflite-int8``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sweep.errors import ApiError
from sweep.local import datasets
from sweep.local.routing import Ctx, Json, int_query, route
from sweep.studio.downloads import ProjectDownloadsResponse, model_link

__all__ = ["MODEL_FILES", "model_routes"]

# download id -> (file in the job's directory, the list's type, the name's model part)
MODEL_FILES = {
    "tflite-float": ("model_float32.tflite", "TensorFlow Lite (float32)", "tensorflow-lite-float32-model"),
    "tflite-int8": ("model_int8.tflite", "TensorFlow Lite (int8 quantized)", "tensorflow-lite-int8-quantized-model"),
}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "block"


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.0f} KB" if n < 1024 ** 2 else f"{n / 1024 ** 2:.1f} MB"


def _model_dir(ctx: Ctx, project: datasets.LocalProject, learn_id: int) -> Path | None:
    """The job directory of the learn block's latest trained model, None before its first success."""
    pointer = ctx.manager.store.load_block(project.id, learn_id, "model.json")
    if pointer is None or "jobId" not in pointer:
        return None
    return ctx.manager.store.job_dir(int(pointer["jobId"]))


def _file_name(project: datasets.LocalProject, block: dict[str, Any], download_id: str) -> str:
    return f"ei-{_slug(project.name)}-{_slug(str(block.get('name') or 'learn'))}-{MODEL_FILES[download_id][2]}" \
           f".{block['id']}.lite"


async def list_downloads(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    """The model files of the impulse's learn blocks (those trained so far)."""
    impulse = ctx.impulses.get(project, int_query(request, "impulseId", None, minimum=1))
    entries = []
    for block in impulse["learnBlocks"]:
        folder = _model_dir(ctx, project, block["id"])
        for download_id, (file, kind, _) in MODEL_FILES.items():
            if folder is None or not (folder / file).is_file():
                continue
            entries.append({"id": download_id, "name": _file_name(project, block, download_id), "type": kind,
                            "size": _size((folder / file).stat().st_size),
                            "link": model_link(project.id, block["id"], download_id), "impulseId": impulse["id"]})
    body = {"success": True, "downloads": entries}
    ProjectDownloadsResponse.model_validate(body)
    return Json(body)


async def download_model(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    """One file of the learn block's latest trained model, or 404 (no such block, no model yet, unknown id)."""
    learn_id, download_id = request.path_params["learn_id"], request.path_params["download_id"]
    _, block = ctx.learn_block(project, learn_id)
    if download_id not in MODEL_FILES:
        raise ApiError(f"learn block {learn_id} has no model download {download_id!r} "
                       f"(it offers {', '.join(MODEL_FILES)})", status_code=404)
    folder = _model_dir(ctx, project, learn_id)
    path = folder / MODEL_FILES[download_id][0] if folder is not None else None
    if path is None or not path.is_file():
        raise ApiError(f"learn block {learn_id} has no trained model yet", status_code=404)
    name = _file_name(project, block, download_id)
    return Response(path.read_bytes(), media_type="application/octet-stream",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


def model_routes() -> list[Route]:
    return [
        route("/downloads", list_downloads, ["GET"]),
        route("/learn-data/{learn_id:int}/model/{download_id:str}", download_model, ["GET"]),
    ]
