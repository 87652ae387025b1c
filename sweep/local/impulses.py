"""The impulses of each local project, its default one and its clones, kept in ``DATA/impulses/<projectId>.json``.

The file (written atomically; absent until the project's impulses first change)::

    {"defaultImpulseId": 1, "nextImpulseId": 3, "nextBlockId": 13,
     "impulses": [<Impulse as GET /impulse answers it>, ...]}

Without a file a project has one impulse, its default (``views.impulse_body``: id ``project.impulse_id``).
Block ids (input, DSP, learn, post-processing) are unique across the project. The ids the server hands out
(to a clone's blocks) are never reused: ``nextBlockId`` only grows, past every id an impulse has had.
This module keeps the structure only; the learn blocks' files, the jobs and the features live elsewhere.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from sweep.errors import ApiError
from sweep.local.bodies import describe
from sweep.local.datasets import LocalProject
from sweep.local.store import atomic_write_json, read_json
from sweep.local.views import impulse_body
from sweep.studio.impulse_models import Impulse, ImpulseDspBlock, ImpulseLearnBlock

__all__ = ["BLOCK_KINDS", "CreateImpulseBody", "ImpulseBook", "parse_create_body"]

BLOCK_KINDS = ("inputBlocks", "dspBlocks", "learnBlocks", "postProcessingBlocks")
Block = dict[str, Any]


class _InputBlock(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    id: int = Field(ge=1)
    type: Literal["time-series", "image", "features"]
    name: str
    title: str


class _PostProcessingBlock(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    id: int = Field(ge=1)
    type: str
    name: str
    title: str
    implementation_version: int


class CreateImpulseBody(BaseModel):
    """``CreateImpulseRequest``, the body of ``POST /api/{projectId}/impulse``; blocks keep every field."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    name: str | None = None
    input_blocks: list[_InputBlock]
    dsp_blocks: list[ImpulseDspBlock]
    learn_blocks: list[ImpulseLearnBlock]
    post_processing_blocks: list[_PostProcessingBlock] | None = None
    type: Literal["default", "BYOM", "VLM"] | None = None


def parse_create_body(raw: bytes) -> CreateImpulseBody:
    try:
        return CreateImpulseBody.model_validate_json(raw or b"{}", strict=True)
    except ValidationError as exc:
        raise ApiError(describe(exc), status_code=400) from None


def _blocks(impulse: dict[str, Any]) -> list[Block]:
    return [b for kind in BLOCK_KINDS for b in impulse.get(kind) or []]


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ImpulseBook:
    """Reads and changes the impulses of the projects of one data dir (one writer: the server)."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir) / "impulses"
        self._lock = threading.RLock()

    # ---- state
    def _path(self, project: LocalProject) -> Path:
        return self.dir / f"{project.id}.json"

    def _load(self, project: LocalProject) -> dict[str, Any]:
        try:
            state: dict[str, Any] = read_json(self._path(project))
            return state
        except FileNotFoundError:
            pass
        except ValueError as exc:  # never fall back to the default alone: that would lose the clones
            raise ApiError(f"{self._path(project)}: unreadable impulses file ({exc})", status_code=500) from None
        default = impulse_body(project)["impulse"]
        return {"defaultImpulseId": default["id"], "nextImpulseId": default["id"] + 1,
                "nextBlockId": max(b["id"] for b in _blocks(default)) + 1, "impulses": [default]}

    def _save(self, project: LocalProject, state: dict[str, Any]) -> None:
        for impulse in state["impulses"]:
            Impulse.model_validate(impulse)  # never write what GET /impulse could not answer
        atomic_write_json(self._path(project), state)

    # ---- queries
    def all(self, project: LocalProject) -> list[dict[str, Any]]:
        """The project's impulses, the default one first, then the clones in the order they were made."""
        with self._lock:
            return list(self._load(project)["impulses"])

    def default_id(self, project: LocalProject) -> int:
        with self._lock:
            return int(self._load(project)["defaultImpulseId"])

    def get(self, project: LocalProject, impulse_id: int | None) -> dict[str, Any]:
        """The impulse ``impulse_id`` (None: the default one), or ApiError 404."""
        with self._lock:
            state = self._load(project)
            wanted = state["defaultImpulseId"] if impulse_id is None else impulse_id
            for impulse in state["impulses"]:
                if impulse["id"] == wanted:
                    return dict(impulse)
            ids = [i["id"] for i in state["impulses"]]
            raise ApiError(f"impulse {wanted} does not exist in project {project.id} (it has impulses {ids})",
                           status_code=404)

    def learn_block(self, project: LocalProject, learn_id: int) -> tuple[dict[str, Any], Block] | None:
        """The impulse that holds learn block ``learn_id``, and the block; None if no impulse has it."""
        return self._find(project, "learnBlocks", learn_id)

    def dsp_block(self, project: LocalProject, dsp_id: int) -> tuple[dict[str, Any], Block] | None:
        return self._find(project, "dspBlocks", dsp_id)

    def learn_block_ids(self, project: LocalProject) -> list[int]:
        return [b["id"] for impulse in self.all(project) for b in impulse["learnBlocks"]]

    def _find(self, project: LocalProject, kind: str, block_id: int) -> tuple[dict[str, Any], Block] | None:
        for impulse in self.all(project):
            for block in impulse.get(kind) or []:
                if block["id"] == block_id:
                    return impulse, block
        return None

    # ---- changes
    def clone(self, project: LocalProject, source_id: int, name: str,
              max_count: int) -> tuple[dict[str, Any], dict[int, int]]:
        """A copy of impulse ``source_id`` with fresh block ids: (the new impulse, old learn id -> new)."""
        if not name.strip():
            raise ApiError("the clone's name must not be empty", status_code=400)
        with self._lock:
            state = self._load(project)
            source = self.get(project, source_id)
            count = len(state["impulses"])
            if max_count >= 0 and count >= max_count:
                raise ApiError(f"project {project.id} already has {count} impulses, the most it may have "
                               f"(maxImpulseCount {max_count}): delete one before cloning another", status_code=400)
            new = copy.deepcopy(source)
            ids: dict[int, int] = {}
            for block in _blocks(new):
                ids[block["id"]] = state["nextBlockId"]
                block["id"] = state["nextBlockId"]
                state["nextBlockId"] += 1
                block.update(createdBy="clone", createdAt=_now())
            for dsp in new["dspBlocks"]:
                if dsp.get("input") in ids:
                    dsp["input"] = ids[dsp["input"]]
            for learn in new["learnBlocks"]:
                learn["dsp"] = [ids.get(d, d) for d in learn["dsp"]]
            new.update(id=state["nextImpulseId"], name=name)
            state["nextImpulseId"] += 1
            state["impulses"].append(new)
            self._save(project, state)
            return new, {b["id"]: ids[b["id"]] for b in source["learnBlocks"]}

    def replace(self, project: LocalProject, impulse_id: int | None, body: CreateImpulseBody) -> dict[str, Any]:
        """Impulse ``impulse_id`` (None: the default one) with the body's blocks, checked (ApiError 400)."""
        with self._lock:
            state = self._load(project)
            current = self.get(project, impulse_id)
            new = self._checked(project, state, current, body)
            state["impulses"] = [new if i["id"] == current["id"] else i for i in state["impulses"]]
            state["nextBlockId"] = max(state["nextBlockId"], max(b["id"] for b in _blocks(new)) + 1)
            self._save(project, state)
            return new

    def deletable(self, project: LocalProject, impulse_id: int | None) -> dict[str, Any]:
        """The impulse if it may be deleted: 404 if unknown, 400 for the default impulse."""
        impulse = self.get(project, impulse_id)
        if impulse["id"] == self.default_id(project):
            raise ApiError(f"impulse {impulse['id']} is the default impulse of project {project.id}: it cannot "
                           f"be deleted (delete its clones instead)", status_code=400)
        return impulse

    def delete(self, project: LocalProject, impulse_id: int | None) -> dict[str, Any]:
        """Remove a clone; the default impulse cannot be removed (ApiError 400)."""
        with self._lock:
            state = self._load(project)
            impulse = self.deletable(project, impulse_id)
            state["impulses"] = [i for i in state["impulses"] if i["id"] != impulse["id"]]
            self._save(project, state)
            return impulse

    def _checked(self, project: LocalProject, state: dict[str, Any], current: dict[str, Any],
                 body: CreateImpulseBody) -> dict[str, Any]:
        """The new impulse the body describes, or ApiError 400 saying what the local studio cannot serve."""
        def refuse(why: str) -> ApiError:
            return ApiError(f"impulse {current['id']} of project {project.id}: {why}", status_code=400)

        seed = impulse_body(project)["impulse"]
        new = {**current, **body.model_dump(mode="json", by_alias=True, exclude_none=True)}
        new.update(id=current["id"], name=body.name or current["name"], type=current.get("type", "default"))
        new.setdefault("postProcessingBlocks", [])
        if body.type not in (None, new["type"]):
            raise refuse(f"its type is {new['type']!r} and cannot change (got {body.type!r})")
        if len(body.input_blocks) != 1 or body.input_blocks[0].type != seed["inputBlocks"][0]["type"]:
            raise refuse(f"the local studio serves exactly one input block of type {seed['inputBlocks'][0]['type']!r}")
        input_id = body.input_blocks[0].id
        dsp_type = seed["dspBlocks"][0]["type"]
        if not body.dsp_blocks or any(d.type != dsp_type for d in body.dsp_blocks):
            raise refuse(f"the local studio serves DSP blocks of type {dsp_type!r} only (at least one)")
        if any(d.input not in (None, input_id) for d in body.dsp_blocks):
            raise refuse(f"every DSP block must take the input block {input_id}")
        for dsp in new["dspBlocks"]:
            dsp["input"] = input_id
        self._check_learn(body, refuse)
        ids = [b["id"] for b in _blocks(new)]
        if len(set(ids)) != len(ids) or min(ids) < 1:
            raise refuse(f"block ids must be distinct and at least 1 (got {ids})")
        others = {b["id"] for i in state["impulses"] if i["id"] != current["id"] for b in _blocks(i)}
        if taken := sorted(others & set(ids)):
            raise refuse(f"block ids {taken} belong to other impulses of the project (ids are project-wide)")
        learn_ids = [b.id for b in body.learn_blocks]
        if current["id"] == state["defaultImpulseId"] and sorted(learn_ids) != sorted(project.learn_block_ids):
            raise refuse(f"the default impulse keeps the learn blocks {project.learn_block_ids} of the local project "
                         f"(got {learn_ids}); clone it to get other learn blocks")
        return new

    @staticmethod
    def _check_learn(body: CreateImpulseBody, refuse: Callable[[str], ApiError]) -> None:
        dsp_ids = {d.id for d in body.dsp_blocks}
        if not body.learn_blocks:
            raise refuse("it needs at least one learn block")
        for learn in body.learn_blocks:
            if learn.type != "keras":
                raise refuse(f"learn block {learn.id} has type {learn.type!r}; the local studio trains 'keras' only")
            if not learn.dsp or not set(learn.dsp) <= dsp_ids:
                raise refuse(f"learn block {learn.id} must take DSP blocks of this impulse ({sorted(dsp_ids)}), "
                             f"got {learn.dsp}")
