"""Starlette routes of the local studio: the Edge Impulse train API subset a sweep speaks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from sweep.errors import ApiError
from sweep.local import datasets
from sweep.local.bodies import SEED_HEADER, describe, parse_train_request, train_seed
from sweep.local.dsp_routes import dsp_routes, learn_inputs
from sweep.local.impulse_routes import impulse_routes, train_refusal
from sweep.local.jobs import JobManager, official_metadata
from sweep.local.model_routes import model_routes
from sweep.local.record import JobRecord, JobState
from sweep.local.routing import MAX_BODY_BYTES, Ctx, Json, error, int_query, ok, read_body, route
from sweep.local.store import read_log
from sweep.studio.models import (
    GenericApiResponse,
    GetJobResponse,
    KerasModelMetadataResponse,
    KerasResponse,
    ListJobsResponse,
    LogStdoutResponse,
    ProjectInfoResponse,
    SetKerasParameterRequest,
    StartJobResponse,
)

if TYPE_CHECKING:
    from sweep.local.project_socket import ProjectSocket

__all__ = ["MAX_BODY_BYTES", "QUOTA_MS", "create_app"]

QUOTA_MS = 20 * 3600 * 1000  # compute time per calendar month, like a paid Studio tier
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def _keras_body(request: Request, ctx: Ctx, project: datasets.LocalProject,
                      learn_id: int) -> dict[str, Any]:
    """Read a SetKerasParameterRequest, merge it into the block's saved config, check what can be trained."""
    from sweep.local.validate import validate_request

    body = parse_train_request(await read_body(request))
    merged = {**_keras_config(ctx, project, learn_id), **body.wire()}
    try:
        effective = SetKerasParameterRequest.model_validate(merged)
    except ValidationError as exc:
        raise ApiError(describe(exc), status_code=400) from None
    validate_request(effective, project)
    return effective.wire()


def _default_layers(project: datasets.LocalProject) -> list[dict[str, Any]]:
    if len(project.input_shape) >= 2:
        return [{"type": "conv2d" if len(project.input_shape) == 3 else "conv1d", "neurons": 8, "kernelSize": 3,
                 "stack": 1}, {"type": "flatten"}, {"type": "dropout", "dropoutRate": 0.25}]
    return [{"type": "dense", "neurons": 20}, {"type": "dense", "neurons": 10}]


def _keras_config(ctx: Ctx, project: datasets.LocalProject, learn_id: int) -> dict[str, Any]:
    saved = ctx.manager.store.load_block(project.id, learn_id, "config.json")
    if saved is not None:
        return saved
    return {"mode": "visual", "visualLayers": _default_layers(project), "trainingCycles": 30,
            "learningRate": 0.005, "batchSize": 32, "trainTestSplit": 0.2, "autoClassWeights": False,
            "augmentationPolicyImage": "none", "profileInt8": True, "skipEmbeddingsAndMemory": False,
            "selectedModelType": "int8", "minimumConfidenceRating": 0.6}


def _block_metadata(ctx: Ctx, project: datasets.LocalProject, learn_id: int) -> dict[str, Any]:
    stored = ctx.manager.store.load_block(project.id, learn_id, "metadata.json")
    if stored is not None:
        return official_metadata(stored)
    return {"created": _EPOCH.isoformat(), "layers": [], "classNames": list(project.labels),
            "labels": list(project.labels), "availableModelTypes": [], "recommendedModelType": "int8",
            "modelValidationMetrics": [], "hasTrainedModel": False, "mode": "classification",
            "imageInputScaling": "0..1", "thresholds": []}


def _job_or_404(request: Request, ctx: Ctx, project: datasets.LocalProject) -> JobRecord:
    job_id = request.path_params["job_id"]
    rec = ctx.manager.get(project.id, job_id)
    if rec is None:
        raise ApiError(f"job {job_id} does not exist in project {project.id}", status_code=404)
    return rec


# ---- handlers ---------------------------------------------------------------------------------


async def project_info(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    from sweep.local.views import data_summary, project_info_body

    ctx.impulses.get(project, int_query(request, "impulseId", None, minimum=1))  # 404 for an unknown impulse
    start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    used = ctx.manager.compute_time_ms(project.id, start)
    body = project_info_body(project, data_summary(project), period_start=start, used_ms=used, quota_ms=QUOTA_MS,
                             job_limit_m=ctx.manager.job_limit_m)
    ProjectInfoResponse.model_validate(body)
    return Json(body)


async def get_keras(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    from sweep.local.views import keras_body

    learn_id = request.path_params["learn_id"]
    impulse, block = ctx.learn_block(project, learn_id)
    trained = ctx.manager.store.load_block(project.id, learn_id, "metadata.json") is not None
    body = keras_body(project, learn_id, _keras_config(ctx, project, learn_id), trained,
                      inputs=learn_inputs(ctx, project, impulse, block), name=block.get("name"))
    return ok(KerasResponse.model_validate(body))


async def set_keras(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    learn_id = request.path_params["learn_id"]
    ctx.learn_block(project, learn_id)
    config = await _keras_body(request, ctx, project, learn_id)
    ctx.manager.store.save_block(project.id, learn_id, "config.json", config)
    return ok(GenericApiResponse(success=True))


async def metadata(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    learn_id = request.path_params["learn_id"]
    ctx.learn_block(project, learn_id)
    body = {"success": True, **_block_metadata(ctx, project, learn_id)}
    if request.query_params.get("excludeLabels") == "true":
        body["labels"] = []
    KerasModelMetadataResponse.model_validate(body)
    return Json(body)


async def train(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    learn_id = request.path_params["learn_id"]
    ctx.learn_block(project, learn_id)
    seed = train_seed(request.headers.getlist(SEED_HEADER))
    config = await _keras_body(request, ctx, project, learn_id)
    busy = ctx.manager.busy_job(project.id, learn_id)
    if busy is not None:
        raise ApiError(f"learn block {learn_id} already has job {busy.id} running; wait for it to "
                       f"finish or cancel it first", status_code=409)
    ctx.manager.store.save_block(project.id, learn_id, "config.json", config)
    rec = ctx.manager.submit_train(project.id, learn_id, config, fail_reason=train_refusal(ctx, project, learn_id),
                                   seed=seed)
    return ok(StartJobResponse(success=True, id=rec.id))


def _list(recs: list[JobRecord], offset: int, limit: int) -> Response:
    page = recs[offset:offset + limit]
    return ok(ListJobsResponse(success=True, jobs=[r.wire() for r in page], total_job_count=len(recs)))


async def active_jobs(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    recs = [r for r in ctx.manager.jobs(project.id) if not r.state.is_finished]
    return _list(recs, 0, len(recs))


_FINISHED: dict[str, Callable[[JobRecord], bool]] = {
    "true": lambda r: r.state.is_finished, "false": lambda r: not r.state.is_finished,
    "finished": lambda r: r.state.is_finished, "unfinished": lambda r: not r.state.is_finished,
    "successful": lambda r: r.state is JobState.SUCCEEDED, "failed": lambda r: r.state is JobState.FAILED,
    "all": lambda r: True,
}


def _date_query(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(f"query parameter {name} must be an ISO date (got {raw!r})", status_code=400) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def all_jobs(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    q = request.query_params
    limit = int_query(request, "limit", 50, minimum=0) or 0
    offset = int_query(request, "offset", 0) or 0
    recs = ctx.manager.jobs(project.id)
    if q.get("key"):
        recs = [r for r in recs if r.key == q["key"]]
    if q.get("category"):
        recs = [r for r in recs if q["category"] in (r.category, r.category_key)]
    if q.get("finished"):
        keep = _FINISHED.get(q["finished"])
        if keep is None:
            raise ApiError(f"query parameter finished must be one of {sorted(_FINISHED)} (got {q['finished']!r})",
                           status_code=400)
        recs = [r for r in recs if keep(r)]
    start, end = _date_query(request, "startDate"), _date_query(request, "endDate")
    if start or end:
        def inside(r: JobRecord) -> bool:
            return (start is None or r.created >= start) and (end is None or r.created <= end)
        recs = [r for r in recs if inside(r)]
    return _list(recs, offset, limit)


async def job_status(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    return ok(GetJobResponse(success=True, job=_job_or_404(request, ctx, project).wire()))


def _log_items(ctx: Ctx, rec: JobRecord) -> list[dict[str, str]]:
    items = []
    for created, data in read_log(ctx.manager.store.log_path(rec.id)):
        level = "error" if data.startswith(("Job failed", "Traceback")) else "info"
        items.append({"created": created or rec.created.isoformat(), "data": data + "\n", "logLevel": level})
    return items


async def job_stdout(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    rec = _job_or_404(request, ctx, project)
    limit = min(int_query(request, "limit", 1000) or 0, 1000)
    offset = int_query(request, "offset", 0) or 0
    items = _log_items(ctx, rec)
    level = request.query_params.get("logLevel")
    if level in ("error", "warn"):
        items = [i for i in items if i["logLevel"] == "error"]
    newest_first = items[::-1][offset:offset + limit]
    return ok(LogStdoutResponse.model_validate({"success": True, "stdout": newest_first,
                                                "totalCount": len(items)}))


async def job_stdout_download(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    rec = _job_or_404(request, ctx, project)
    lines = [data for _, data in read_log(ctx.manager.store.log_path(rec.id))]
    limit = int_query(request, "limit", None)
    if limit is not None:
        lines = lines[-limit:] if limit else []
    return PlainTextResponse("".join(line + "\n" for line in lines))


async def cancel_job(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    _job_or_404(request, ctx, project)
    force = request.query_params.get("forceCancel", "").lower() == "true"
    ctx.manager.cancel(project.id, request.path_params["job_id"], force=force)
    return ok(GenericApiResponse(success=True))


# ---- the app ----------------------------------------------------------------------------------


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal server error"
    return error(status, f"{request.method} {request.url.path}: {detail}")


def create_app(data_dir: Path, manager: JobManager, api_key: str, *, max_impulses: int = -1,
               socket: ProjectSocket | None = None) -> Starlette:
    """The ASGI app; the manager (and the project socket, if any: its token route too) start and stop with the
    app's lifespan. The socket itself is served by ``socket.asgi(app)``, in front of this app."""
    jobs = "/jobs/{job_id:int}"
    keras = "/training/keras/{learn_id:int}"
    routes = [
        route("", project_info, ["GET"]),
        route(keras, get_keras, ["GET"]),
        route(keras, set_keras, ["POST"]),
        route(keras + "/metadata", metadata, ["GET"]),
        route("/jobs/train/keras/{learn_id:int}", train, ["POST"]),
        route("/jobs", active_jobs, ["GET"]),
        route("/jobs/all", all_jobs, ["GET"]),
        route(jobs + "/status", job_status, ["GET"]),
        route(jobs + "/stdout", job_stdout, ["GET"]),
        route(jobs + "/stdout/download", job_stdout_download, ["GET"]),
        route(jobs + "/cancel", cancel_job, ["POST"]),
        *impulse_routes(),
        *dsp_routes(),
        *model_routes(),
        *(socket.routes() if socket is not None else []),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if socket is not None:
            socket.open()
        manager.start()
        try:
            yield
        finally:
            if socket is not None:
                await socket.close()  # the server's shutdown closed it already; this covers other hosts
            manager.shutdown()

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: _http_error, Exception: _http_error})
    app.state.ctx = Ctx(data_dir, manager, api_key, max_impulses=max_impulses)
    return app

