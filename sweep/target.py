"""Where a study's jobs run: the real Studio or the embedded local studio, as one connected client."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from sweep.errors import LocalStudioError, SettingsError, StudyFileError
from sweep.settings import DEFAULT_STUDIO_URL, Settings
from sweep.studio.client import StudioClient, make_http_client
from sweep.study import StudySpec

__all__ = ["Connection", "connect"]


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


@contextlib.contextmanager
def connect(spec: StudySpec, settings: Settings, *, check_blocks: bool = True,
            learn_blocks: list[int] | None = None) -> Iterator[Connection]:
    """Open the study's target; the local studio is started here and stopped on exit.

    ``learn_blocks`` (the ``--learn-blocks`` flag) overrides the study file's slots.
    """
    target = spec.target
    if target.kind == "studio":
        if not settings.has_api_key:
            raise SettingsError("EI_API_KEY", f"{spec.path}: target.kind is 'studio' but EI_API_KEY is not set")
        base_url = target.base_url or settings.studio_url or DEFAULT_STUDIO_URL
        with make_http_client(base_url, settings.api_key, timeout=settings.http_timeout_s) as http:
            client = StudioClient(http, target.project_id)
            learn_ids = list(learn_blocks or target.learn_blocks)
            if check_blocks:
                _check_blocks(spec, client, learn_ids)
            yield Connection(client, learn_ids, target.label)
        return
    from sweep.local.embedded import EmbeddedStudio  # heavy parts stay behind this door

    with EmbeddedStudio(settings.data_dir) as studio:
        try:
            project = studio.project(target.project)
        except LocalStudioError as exc:
            raise StudyFileError(str(spec.path), "target.project", target.project,
                                 f"no such project in the local studio at {settings.data_dir} ({exc})") from None
        learn_ids = list(learn_blocks or target.learn_blocks or project.learn_block_ids[:1])
        with make_http_client(studio.base_url, studio.api_key, timeout=settings.http_timeout_s) as http:
            client = StudioClient(http, project.id)
            if check_blocks:
                _check_blocks(spec, client, learn_ids)
            yield Connection(client, learn_ids,
                             f"{target.label} (id {project.id}) at {studio.base_url}",
                             poll_max_s=2.0)


def _file_blocks(spec: StudySpec) -> list[int]:
    return list(spec.target.learn_blocks or [])


def _check_blocks(spec: StudySpec, client: StudioClient, learn_ids: list[int]) -> None:
    impulse = client.impulse()
    known = {b.id for b in impulse.learn_blocks}
    for lid in learn_ids:
        if lid not in known:
            field = "--learn-blocks" if learn_ids != _file_blocks(spec) else "target.learn_blocks"
            raise StudyFileError(str(spec.path), field, lid,
                                 f"no learn block with this id in the project's impulse (it has {sorted(known)})")
