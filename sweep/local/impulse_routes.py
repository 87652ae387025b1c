"""Routes of impulses, their DSP blocks' features and the project list: what parallel slots from cloned impulses need.

``GET /impulses``, ``GET|POST|DELETE /impulse?impulseId=``, ``POST /impulse/{id}/clone/structure``,
``POST /jobs/generate-features`` (under ``/v1/api/{projectId}``; the DSP blocks' own routes are in dsp_routes.py)
and ``GET /v1/api/projects``;
every answer in the official shapes (``edgeimpulse_api``'s models parse them, the tests check it).
"""

from __future__ import annotations

import concurrent.futures
import shutil
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sweep.errors import ApiError, LocalStudioError
from sweep.local import datasets
from sweep.local.bodies import describe, json_depth
from sweep.local.features import feature_source, input_block
from sweep.local.impulses import parse_create_body
from sweep.local.raw_features import compute_features
from sweep.local.routing import Ctx, Json, global_route, int_query, ok, read_body, route
from sweep.local.views import impulse_body, project_body
from sweep.studio.impulse_models import (
    CloneImpulseRequest,
    CreateImpulseResponse,
    GenerateFeaturesRequest,
    GetAllImpulsesResponse,
    GetImpulseResponse,
    ListProjectsResponse,
)
from sweep.studio.models import GenericApiResponse, StartJobResponse

__all__ = ["impulse_routes", "train_refusal"]

_MAX_DEPTH = 8  # an impulse nests 4 levels (body, blocks, a block, its axes)


async def _body(request: Request) -> bytes:
    raw = await read_body(request)
    if json_depth(raw) > _MAX_DEPTH:
        raise ApiError(f"request body nests more than {_MAX_DEPTH} levels deep", status_code=400)
    return raw


def _parse(model: Any, raw: bytes) -> Any:
    try:
        return model.model_validate_json(raw or b"{}", strict=True)
    except ValidationError as exc:
        raise ApiError(describe(exc), status_code=400) from None


def _impulse_id(request: Request) -> int | None:
    return int_query(request, "impulseId", None, minimum=1)


def train_refusal(ctx: Ctx, project: datasets.LocalProject, learn_id: int) -> str | None:
    """Why a train job on ``learn_id`` will fail at once (its features are missing or stale), or None."""
    impulse, learn = ctx.learn_block(project, learn_id)
    return ctx.features.missing(project, impulse, learn)


def _refuse_busy(ctx: Ctx, project: datasets.LocalProject, impulse: dict[str, Any], learn_ids: list[int],
                 dsp_ids: list[int], doing: str) -> None:
    """409 if a learn block or DSP block about to go has a job running."""
    for learn_id in learn_ids:
        if (busy := ctx.manager.busy_job(project.id, learn_id)) is not None:
            raise ApiError(f"cannot {doing} impulse {impulse['id']} ('{impulse['name']}'): its learn block {learn_id} "
                           f"has job {busy.id} running; wait for it to finish or cancel it first", status_code=409)
    for dsp_id in dsp_ids:
        if (busy := ctx.manager.busy_features(project.id, dsp_id)) is not None:
            raise ApiError(f"cannot {doing} impulse {impulse['id']} ('{impulse['name']}'): its DSP block {dsp_id} "
                           f"has generate-features job {busy.id} running; wait for it to finish", status_code=409)


def _drop_blocks(ctx: Ctx, project: datasets.LocalProject, learn_ids: list[int], dsp_ids: list[int]) -> None:
    """Forget learn blocks (their saved config, metadata and model pointer) and DSP blocks' features."""
    for learn_id in learn_ids:
        shutil.rmtree(ctx.manager.store.block_dir(project.id, learn_id), ignore_errors=True)
    ctx.features.forget(project, dsp_ids)
    ctx.dsp.forget(project, dsp_ids)


# ---- handlers ---------------------------------------------------------------------------------


async def list_impulses(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    body = {"success": True, "impulses": ctx.impulses.all(project), "maxImpulseCount": ctx.max_impulses}
    GetAllImpulsesResponse.model_validate(body)
    return Json(body)


async def get_impulse(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    body = {"success": True, "impulse": ctx.impulses.get(project, _impulse_id(request))}
    GetImpulseResponse.model_validate(body)
    return Json(body)


async def create_impulse(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    """Replace an impulse's blocks (``CreateImpulseRequest``); learn or DSP blocks it drops are forgotten."""
    body = parse_create_body(await _body(request))
    current = ctx.impulses.get(project, _impulse_id(request))
    kept = {b.id for b in body.learn_blocks} | {b.id for b in body.dsp_blocks}
    gone_learn = [b["id"] for b in current["learnBlocks"] if b["id"] not in kept]
    gone_dsp = [b["id"] for b in current["dspBlocks"] if b["id"] not in kept]
    _refuse_busy(ctx, project, current, gone_learn, gone_dsp, "change")
    new = ctx.impulses.replace(project, current["id"], body)
    _drop_blocks(ctx, project, gone_learn, gone_dsp)
    return ok(CreateImpulseResponse(success=True, id=new["id"]))


async def delete_impulse(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    impulse = ctx.impulses.deletable(project, _impulse_id(request))
    learn_ids = [b["id"] for b in impulse["learnBlocks"]]
    dsp_ids = [b["id"] for b in impulse["dspBlocks"]]
    _refuse_busy(ctx, project, impulse, learn_ids, dsp_ids, "delete")
    ctx.impulses.delete(project, impulse["id"])
    _drop_blocks(ctx, project, learn_ids, dsp_ids)
    return ok(GenericApiResponse(success=True))


async def clone_structure(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    """A new impulse with the source's blocks (fresh ids) and learn block configs; no features, no models."""
    body: CloneImpulseRequest = _parse(CloneImpulseRequest, await _body(request))
    new, learn_ids = ctx.impulses.clone(project, request.path_params["impulse_id"], body.name, ctx.max_impulses)
    store = ctx.manager.store
    for source_id, clone_id in learn_ids.items():
        config = store.load_block(project.id, source_id, "config.json")
        if config is not None:
            store.save_block(project.id, clone_id, "config.json", config)
    source = ctx.impulses.get(project, request.path_params["impulse_id"])
    ctx.dsp.copy(project, {int(a["id"]): int(b["id"]) for a, b in zip(source["dspBlocks"], new["dspBlocks"],
                                                                         strict=False)})
    return ok(CreateImpulseResponse(success=True, id=new["id"]))


async def generate_features(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
    """A generate-features job: it finishes a moment later and records the DSP block's features."""
    body: GenerateFeaturesRequest = _parse(GenerateFeaturesRequest, await _body(request))
    found = ctx.impulses.dsp_block(project, body.dsp_id)
    if found is None:
        raise ApiError(f"DSP block {body.dsp_id} does not exist in project {project.id}", status_code=404)
    impulse, dsp = found
    source = ctx.features.source(project, impulse, dsp)
    if project.kind == "raw":
        return _generate_raw(ctx, project, body, impulse, dsp, source)

    shipped = feature_source(*_original_blocks(project))

    def complete(job_id: int) -> str | None:
        if {k: source[k] for k in ("window", "dsp")} != shipped:  # its arrays were made for one window only
            return (f"project {project.name!r} holds features computed elsewhere for one input window and DSP "
                    f"block ({shipped['window']}, {shipped['dsp'].get('type')}); they cannot be made again for "
                    f"{source['window']}, {source['dsp'].get('type')}: import raw data (sweep import NAME --raw) "
                    "to tune the window or the DSP block")
        ctx.features.record(project, body.dsp_id, source, job_id)
        return None

    rec = ctx.manager.submit_features(project.id, body.dsp_id, body.wire(), complete)
    return ok(StartJobResponse(success=True, id=rec.id))


def _original_blocks(project: datasets.LocalProject) -> tuple[dict[str, Any], dict[str, Any]]:
    """The project's original default impulse and its DSP block: what its precomputed features came from."""
    impulse = impulse_body(project)["impulse"]
    return impulse, impulse["dspBlocks"][0]


_FEATURES = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sweep-local-features")


def _generate_raw(ctx: Ctx, project: datasets.LocalProject, body: GenerateFeaturesRequest, impulse: dict[str, Any],
                  dsp: dict[str, Any], source: dict[str, Any]) -> Response:
    """A raw project's features: its DSP block run on every window (off the event loop; the job ends once done)."""
    window = input_block(impulse, dsp)
    values = ctx.dsp.values(project, dsp["id"])
    future = _FEATURES.submit(compute_features, project, str(dsp["type"]), values, window)

    def complete(job_id: int) -> str | None:
        try:
            found = future.result()
        except (LocalStudioError, ValueError) as exc:
            return str(exc)
        ctx.manager.store.log(job_id, f"Features: {found.count} windows of shape {found.shape} ({found.key})")
        ctx.features.record(project, body.dsp_id, source, job_id, count=found.count, key=found.key,
                            shape=list(found.shape), config=values, window=window)
        return None

    rec = ctx.manager.submit_features(project.id, body.dsp_id, body.wire(), complete)
    return ok(StartJobResponse(success=True, id=rec.id))


async def list_projects(request: Request, ctx: Ctx) -> Response:
    """Every local project (one key opens them all); the official SDK takes the first as the key's project."""
    body = {"success": True, "projects": [project_body(p, datasets.stored_at(p)) for p in ctx.all_projects()]}
    ListProjectsResponse.model_validate(body)
    return Json(body)


def impulse_routes() -> list[Route]:
    return [
        route("/impulses", list_impulses, ["GET"]),
        route("/impulse", get_impulse, ["GET"]),
        route("/impulse", create_impulse, ["POST"]),
        route("/impulse", delete_impulse, ["DELETE"]),
        route("/impulse/{impulse_id:int}/clone/structure", clone_structure, ["POST"]),
        route("/jobs/generate-features", generate_features, ["POST"]),
        global_route("/projects", list_projects, ["GET"]),
    ]

