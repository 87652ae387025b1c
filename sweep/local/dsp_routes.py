"""Routes of DSP blocks: their parameters (``GET|POST /dsp/{dspId}``), features' provenance and device cost.

``GET /dsp/{dspId}`` answers the block's state and, on a raw project, its parameters as Studio describes
them (``config`` groups of ``{param, value, defaultValue, type, selectOptions, minVal, maxVal, readonly}``);
``POST /dsp/{dspId}`` merges ``{config: {param: "value"}}`` after checking each against that description;
``GET /dsp/{dspId}/metadata`` says which configuration and window the features came from and their shape;
``GET /dsp/{dspId}/performance`` estimates the block's latency and RAM per device;
``GET /dsp-data/{dspId}/x|y/{category}`` serves the block's features of one category (training or testing, see
test_split.py) as NumPy arrays: x one row per window, y ``[class (1-based), sample id]`` per window, the project's
test split described in the ``X-Sweep-Test-Split`` header. A project of features shipped or imported
precomputed has no DSP to run: no parameters, no cost. ``learn_inputs``: what a learn block trains on, from its
DSP blocks' features (its ``KerasResponse.dependencies``).
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sweep.errors import ApiError
from sweep.local import datasets
from sweep.local.bodies import describe, json_depth
from sweep.local.features import input_block
from sweep.local.routing import Ctx, Json, ok, read_body, route
from sweep.local.views import dsp_body
from sweep.studio.dsp_data import TEST_SPLIT_HEADER
from sweep.studio.impulse_models import (
    DspConfigResponse,
    DspMetadataResponse,
    DspPerformanceResponse,
    SetDspConfigRequest,
)
from sweep.studio.models import GenericApiResponse

__all__ = ["dsp_routes", "learn_inputs"]


def _block(ctx: Ctx, project: datasets.LocalProject, dsp_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    found = ctx.impulses.dsp_block(project, dsp_id)
    if found is None:
        raise ApiError(f"DSP block {dsp_id} does not exist in project {project.id}", status_code=404)
    return found


async def get_dsp(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    impulse, dsp = _block(ctx, project, request.path_params["dsp_id"])
    state = ctx.features.state(project, impulse, dsp)
    config = None
    if project.kind == "raw":
        from sweep.local import dsp as blocks

        config = blocks.describe(str(dsp["type"]), ctx.dsp.values(project, dsp["id"]))
    body = dsp_body(project, impulse, dsp, generated=state.generated, count=state.count,
                    samples=datasets.sample_count(project), config=config)
    DspConfigResponse.model_validate(body)
    return Json(body)


async def set_dsp(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    dsp_id = request.path_params["dsp_id"]
    _impulse, dsp = _block(ctx, project, dsp_id)
    raw = await read_body(request)
    if json_depth(raw or b"{}") > 3:
        raise ApiError("the config nests too deeply: it maps parameters to strings", status_code=400)
    try:
        body = SetDspConfigRequest.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise ApiError(f"POST /dsp/{dsp_id}: the body is not {{config: {{param: \"value\"}}}}: "
                       f"{describe(exc)}", status_code=400) from None
    if project.kind != "raw":
        raise ApiError(f"DSP block {dsp_id} of project {project.name!r} has no parameters to set: its features "
                       "were shipped or imported already computed", status_code=400)
    if (busy := ctx.manager.busy_features(project.id, dsp_id)) is not None:
        raise ApiError(f"DSP block {dsp_id} has generate-features job {busy.id} running; wait for it to finish",
                       status_code=409)
    from sweep.local import dsp as blocks

    merged = {**ctx.dsp.values(project, dsp_id), **body.config}
    try:
        blocks.resolve(str(dsp["type"]), merged)
    except ValueError as exc:
        raise ApiError(f"DSP block {dsp_id} ({dsp['type']}): {exc}", status_code=400) from None
    ctx.dsp.update(project, dsp_id, body.config)
    return ok(GenericApiResponse(success=True))


def _output(project: datasets.LocalProject, entry: dict[str, Any] | None) -> dict[str, Any]:
    """``outputConfig``: a raw project's computed shape, else the precomputed features' own."""
    if entry is not None and entry.get("shape"):
        shape = [int(v) for v in entry["shape"]]
    else:
        shape = list(project.input_shape)
    if project.kind == "image" and len(shape) == 3:
        return {"type": "image", "shape": {"width": shape[1], "height": shape[0], "channels": shape[2]}}
    if len(shape) >= 2:  # frames x columns: as Studio's dsp.py writes it, width counts frames, height columns
        return {"type": "spectrogram", "shape": {"width": shape[0], "height": shape[1]}}
    return {"type": "flat", "shape": {"width": math.prod(shape)}}


async def dsp_metadata(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    impulse, dsp = _block(ctx, project, request.path_params["dsp_id"])
    state = ctx.features.state(project, impulse, dsp)
    entry = ctx.features.entry(project, dsp["id"]) if state.generated else None
    source = (entry or {}).get("source") or ctx.features.source(project, impulse, dsp)
    window = source.get("window") or input_block(impulse, dsp)
    body = {"success": True, "created": (entry or {}).get("generatedAt") or "1970-01-01T00:00:00+00:00",
            "generated": state.generated, "dspConfig": dict((entry or {}).get("config") or {}),
            "labels": list(project.labels), "windowCount": int(state.count or 0),
            "featureCount": math.prod(int(v) for v in (entry or {}).get("shape") or project.input_shape),
            "includedSamples": [], "windowSizeMs": int(window.get("windowSizeMs") or 0),
            "windowIncreaseMs": int(window.get("windowIncreaseMs") or 0), "padZeros": bool(window.get("padZeros")),
            "frequency": float(window.get("frequencyHz") or project.frequency_hz or 0.0),
            "outputConfig": _output(project, entry)}
    DspMetadataResponse.model_validate(body)
    return Json(body)


async def dsp_performance(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    impulse, dsp = _block(ctx, project, request.path_params["dsp_id"])
    body: dict[str, Any] = {"success": True, "performance": []}
    if project.kind == "raw" and project.frequency_hz:
        from sweep.local import dsp as blocks
        from sweep.local.raw_features import window_samples

        size, _ = window_samples(input_block(impulse, dsp), project.frequency_hz)
        body = blocks.performance_body(str(dsp["type"]), ctx.dsp.values(project, dsp["id"]), size,
                                       len(project.axes or ()), float(project.frequency_hz))
    DspPerformanceResponse.model_validate(body)
    return Json(body)


def learn_inputs(ctx: Ctx, project: datasets.LocalProject, impulse: dict[str, Any], learn: dict[str, Any]
                 ) -> tuple[list[str], int, int]:
    """What learn block ``learn`` trains on: its DSP blocks' names, their windows (feature vectors; 0 until they
    are generated, or once stale) and the features of one window."""
    blocks = {b["id"]: b for b in impulse.get("dspBlocks") or []}
    names, windows, features = [], 0, 0
    for dsp in (blocks[i] for i in learn.get("dsp") or [] if i in blocks):
        names.append(str(dsp.get("name") or dsp["type"]))
        state = ctx.features.state(project, impulse, dsp)
        entry = ctx.features.entry(project, dsp["id"]) if state.generated else None
        windows = max(windows, int(state.count or 0))
        features += _per_window(ctx, project, impulse, dsp, entry)
    return names, windows, features


def _per_window(ctx: Ctx, project: datasets.LocalProject, impulse: dict[str, Any], dsp: dict[str, Any],
                entry: dict[str, Any] | None) -> int:
    """Features of one window: the generated set's, else the block's settings' (a raw project), else the project's."""
    if entry is not None and entry.get("shape"):
        return math.prod(int(v) for v in entry["shape"])
    if project.kind != "raw" or not project.frequency_hz:
        return math.prod(project.input_shape)
    from sweep.local import dsp as blocks
    from sweep.local.raw_features import window_samples

    size, _ = window_samples(input_block(impulse, dsp), project.frequency_hz)
    shape = blocks.output_shape(str(dsp["type"]), ctx.dsp.values(project, dsp["id"]), size, len(project.axes or ()),
                                float(project.frequency_hz))
    return math.prod(int(v) for v in shape)


_CATEGORIES = ("training", "testing", "validation", "post-processing")  # RawDataCategory, as the official client


def _rows(ctx: Ctx, project: datasets.LocalProject, impulse: dict[str, Any], dsp: dict[str, Any],
          category: str) -> datasets.Rows:
    """The block's feature rows of ``category`` (ApiError when they are not generated, or stale)."""
    if category not in _CATEGORIES:
        raise ApiError(f"category must be one of {', '.join(_CATEGORIES)} (got {category!r})", status_code=400)
    state = ctx.features.state(project, impulse, dsp)
    if not state.generated:
        why = "stale (its input block or DSP block changed since)" if state.stale else "not generated"
        raise ApiError(f"the features of DSP block {dsp['id']} are {why}: run a generate-features job first",
                       status_code=400)
    view = project
    if project.kind == "raw":
        from sweep.local.raw_features import feature_project

        view = feature_project(project, str((ctx.features.entry(project, dsp["id"]) or {})["key"]))
    rows = datasets.load_rows(view, "testing" if category == "testing" else "training")
    if category in ("validation", "post-processing"):  # a local project has no samples in these categories
        return datasets.Rows(rows.x[:0], rows.y[:0], rows.samples[:0], rows.windows)
    return rows


async def dsp_data(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    """``GET /dsp-data/{dspId}/x|y/{category}``: the features (x) or labels (y) of the category's windows."""
    import io

    import numpy as np

    if request.path_params["part"] not in ("x", "y"):
        raise ApiError(f"no route {request.url.path}: dsp-data serves x (features) or y (labels)", status_code=404)
    impulse, dsp = _block(ctx, project, request.path_params["dsp_id"])
    if request.query_params.get("raw", "").lower() == "true":
        raise ApiError("raw=true (the raw data of each window) is not served by the local studio: it serves the "
                       "DSP block's output", status_code=400)
    rows = _rows(ctx, project, impulse, dsp, request.path_params["category"])
    if request.path_params["part"] == "x":
        array = rows.x.reshape(len(rows.x), -1).astype(np.float32)
    else:
        array = np.stack([rows.y + 1, rows.samples], axis=1).astype(np.int64)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    headers = {TEST_SPLIT_HEADER: json.dumps(project.test_split.header())} if project.test_split else {}
    return Response(buffer.getvalue(), media_type="application/octet-stream", headers=headers)


def dsp_routes() -> list[Route]:
    return [
        route("/dsp-data/{dsp_id:int}/{part:str}/{category:str}", dsp_data, ["GET"]),
        route("/dsp/{dsp_id:int}", get_dsp, ["GET"]),
        route("/dsp/{dsp_id:int}", set_dsp, ["POST"]),
        route("/dsp/{dsp_id:int}/metadata", dsp_metadata, ["GET"]),
        route("/dsp/{dsp_id:int}/performance", dsp_performance, ["GET"]),
    ]
