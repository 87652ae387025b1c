"""What every route of the local studio shares: the context (data dir, jobs, impulses), auth, bodies, answers."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sweep.errors import ApiError
from sweep.local import datasets
from sweep.local.dsp_book import DspBook
from sweep.local.features import FeatureBook
from sweep.local.impulses import ImpulseBook
from sweep.local.jobs import JobManager

__all__ = ["MAX_BODY_BYTES", "Ctx", "Handler", "Json", "error", "global_route", "int_query", "ok", "read_body",
           "route"]

MAX_BODY_BYTES = 1_000_000


class Json(JSONResponse):
    def render(self, content: Any) -> bytes:  # NaN losses must not turn into a 500
        return json.dumps(content, allow_nan=True, separators=(",", ":")).encode()


def error(status: int, message: str) -> Response:
    return Json({"success": False, "error": message}, status_code=status)


def ok(model: Any) -> Response:
    return Json(model.wire())


class Ctx:
    """What every handler needs: the data dir, the job manager, the impulses and features, project lookup."""

    def __init__(self, data_dir: Path, manager: JobManager, api_key: str, *, max_impulses: int = -1) -> None:
        self.data_dir, self.manager, self._key = data_dir, manager, api_key.encode()
        self.dsp = DspBook(data_dir)
        self.impulses, self.features = ImpulseBook(data_dir), FeatureBook(data_dir, self.dsp)
        self.max_impulses = max_impulses
        self._projects: dict[int, datasets.LocalProject] = {}

    def authorised(self, request: Request) -> bool:
        given = request.headers.get("x-api-key", "")
        return hmac.compare_digest(given.encode(), self._key)

    def all_projects(self) -> list[datasets.LocalProject]:
        self._projects = {p.id: p for p in datasets.list_projects(self.data_dir)}
        return list(self._projects.values())

    def project(self, project_id: int) -> datasets.LocalProject:
        if project_id not in self._projects:  # projects may be imported while we serve
            self.all_projects()
        if project_id not in self._projects:
            raise ApiError(f"project {project_id} does not exist", status_code=404)
        return self._projects[project_id]

    def learn_block(self, project: datasets.LocalProject, learn_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """The impulse holding learn block ``learn_id`` and the block (any impulse of the project), or 404."""
        found = self.impulses.learn_block(project, learn_id)
        if found is None:
            known = sorted(self.impulses.learn_block_ids(project))
            raise ApiError(f"learn block {learn_id} does not exist in project {project.id} "
                           f"(it has {known})", status_code=404)
        return found


Handler = Callable[[Request, Ctx, datasets.LocalProject], Awaitable[Response]]


def route(path: str, handler: Handler, methods: list[str]) -> Route:
    """A route under ``/v1/api/{projectId}``: the key checked, the project looked up, ApiError answered."""
    async def endpoint(request: Request) -> Response:
        ctx: Ctx = request.app.state.ctx
        if not ctx.authorised(request):
            return error(401, "missing or wrong x-api-key header")
        try:
            project = ctx.project(request.path_params["project_id"])
            return await handler(request, ctx, project)
        except ApiError as exc:
            return error(exc.status_code or 400, exc.message)
    return Route("/v1/api/{project_id:int}" + path, endpoint, methods=methods)


def global_route(path: str, handler: Callable[[Request, Ctx], Awaitable[Response]], methods: list[str]) -> Route:
    """A route under ``/v1/api`` that names no project (``/v1/api/projects``)."""
    async def endpoint(request: Request) -> Response:
        ctx: Ctx = request.app.state.ctx
        if not ctx.authorised(request):
            return error(401, "missing or wrong x-api-key header")
        try:
            return await handler(request, ctx)
        except ApiError as exc:
            return error(exc.status_code or 400, exc.message)
    return Route("/v1/api" + path, endpoint, methods=methods)


def int_query(request: Request, name: str, default: int | None, *, minimum: int = 0) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(f"query parameter {name} must be an integer (got {raw!r})", status_code=400) from None
    if value < minimum:
        raise ApiError(f"query parameter {name} must be >= {minimum} (got {value})", status_code=400)
    return value


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(f"request body too large ({declared} bytes; at most {MAX_BODY_BYTES})", status_code=400)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise ApiError(f"request body too large (more than {MAX_BODY_BYTES} bytes)", status_code=400)
    return bytes(raw)
