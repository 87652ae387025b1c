"""Where a study's jobs run: the real Studio or the embedded local studio, planned without I/O, then connected."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from sweep.errors import LocalStudioError, SettingsError, StudyFileError
from sweep.settings import DEFAULT_STUDIO_URL, Settings
from sweep.studio.client import StudioClient, make_http_client
from sweep.study.spec import StudySpec

__all__ = ["Connection", "TargetPlan", "connect", "plan_target"]


@dataclass(frozen=True)
class TargetPlan:
    """The slots a run will use, known before anything is started or written."""

    learn_ids: list[int]
    # The local project's id (None for Studio, whose project id is in the study file).
    local_project_id: int | None = None


@dataclass
class Connection:
    """A ready client and the learn blocks (slots) the study may use."""

    client: StudioClient
    learn_ids: list[int]
    description: str
    # Longest wait between status polls this target deserves: None = the settings' cap (30 s
    # suits Studio jobs of minutes); the local studio is on loopback, where a late poll only
    # wastes wall clock.
    poll_max_s: float | None = None


def plan_target(spec: StudySpec, settings: Settings, learn_blocks: list[int] | None = None) -> TargetPlan:
    """Check what can be checked without a server: the key is set (Studio), the local project exists
    (or is a shipped one) and has the learn blocks asked for. Reads only; starts and writes nothing.

    ``learn_blocks`` (the ``--learn-blocks`` flag) overrides the study file's slots.
    """
    target = spec.target
    if target.kind == "studio":
        if not settings.has_api_key:
            raise SettingsError("EI_API_KEY", f"{spec.path}: target.kind is 'studio' but EI_API_KEY is not set")
        return TargetPlan(list(learn_blocks or target.learn_blocks))
    from sweep.local.datasets import (
        peek_project,  # light: numpy, no Keras and no server
    )

    try:
        project = peek_project(settings.data_dir, target.project)
    except LocalStudioError as exc:
        raise StudyFileError(str(spec.path), "target.project", target.project, str(exc)) from None
    learn_ids = list(learn_blocks or target.learn_blocks or project.learn_block_ids[:1])
    _check_known(spec, learn_ids, set(project.learn_block_ids))
    return TargetPlan(learn_ids, project.id)


@contextlib.contextmanager
def connect(spec: StudySpec, settings: Settings, plan: TargetPlan, *, check_blocks: bool = True
            ) -> Iterator[Connection]:
    """Open the study's target for ``plan``; the local studio is started here and stopped on exit."""
    target = spec.target
    if target.kind == "studio":
        base_url = target.base_url or settings.studio_url or DEFAULT_STUDIO_URL
        with make_http_client(base_url, settings.api_key, timeout=settings.http_timeout_s) as http:
            client = StudioClient(http, target.project_id)
            if check_blocks:
                _check_blocks(spec, client, plan.learn_ids)
            yield Connection(client, plan.learn_ids, target.label)
        return
    from sweep.local.embedded import EmbeddedStudio  # heavy parts stay behind this door

    assert plan.local_project_id is not None
    with EmbeddedStudio(settings.data_dir) as studio, \
            make_http_client(studio.base_url, studio.api_key, timeout=settings.http_timeout_s) as http:
        client = StudioClient(http, plan.local_project_id)
        if check_blocks:
            _check_blocks(spec, client, plan.learn_ids)
        yield Connection(client, plan.learn_ids,
                         f"{target.label} (id {plan.local_project_id}) at {studio.base_url}",
                         poll_max_s=2.0)


def _check_known(spec: StudySpec, learn_ids: list[int], known: set[int]) -> None:
    for lid in learn_ids:
        if lid not in known:
            file_blocks = list(spec.target.learn_blocks or [])
            field = "--learn-blocks" if learn_ids != file_blocks else "target.learn_blocks"
            raise StudyFileError(str(spec.path), field, lid,
                                 f"no learn block with this id in the project's impulse (it has {sorted(known)})")


def _check_blocks(spec: StudySpec, client: StudioClient, learn_ids: list[int]) -> None:
    _check_known(spec, learn_ids, {b.id for b in client.impulse().learn_blocks})
