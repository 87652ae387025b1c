"""Where a study's jobs run: the real Studio or the embedded local studio, planned without I/O, then connected.

A study trains either on cloned impulses (``target.slots``, the default: one clone) or directly on
the learn blocks it names (``target.learn_blocks``). The plan says which, and which slots or blocks
this worker uses (``--slots`` / ``--learn-blocks`` give a worker its share of a study's).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sweep.errors import LocalStudioError, SettingsError, StudyFileError
from sweep.session.home import StudioHome, record_home, studio_home
from sweep.settings import DEFAULT_STUDIO_URL, Settings
from sweep.studio.client import StudioClient, make_http_client
from sweep.studio.impulse_models import ImpulseLearnBlock
from sweep.study.spec import StudySpec

if TYPE_CHECKING:
    import optuna

    from sweep.local.datasets import LocalProject
    from sweep.local.identity import StudioIdentity

__all__ = ["Connection", "TargetPlan", "connect", "plan_target"]


@dataclass(frozen=True)
class TargetPlan:
    """What a run will train on, known before anything is started or written.

    Learn blocks named by the file or ``--learn-blocks``; or, with slots, the slot numbers this worker
    uses (their learn blocks are the clones', known once the slots are made).
    """

    learn_ids: list[int] = field(default_factory=list)
    slot_numbers: list[int] = field(default_factory=list)
    # The local project's id (None for Studio, whose project id is in the study file).
    local_project_id: int | None = None
    # The local studio the study uses (None for Studio): :func:`sweep.session.home.studio_home`.
    home: StudioHome | None = None
    local_project: LocalProject | None = None  # the local project as its server will serve it (None for Studio)

    @property
    def uses_slots(self) -> bool:
        return bool(self.slot_numbers)

    @property
    def width(self) -> int:
        """How many jobs this worker runs at once."""
        return len(self.slot_numbers) or len(self.learn_ids)


@dataclass
class Connection:
    """A ready client for the study's project."""

    client: StudioClient
    description: str
    # Longest wait between status polls this target deserves: None = the settings' cap (30 s
    # suits Studio jobs of minutes); the local studio is on loopback, where a late poll only
    # wastes wall clock.
    poll_max_s: float | None = None
    # The local studio's identity and where the study finds it (None for Studio).
    studio: StudioIdentity | None = None
    home: StudioHome | None = None
    # ``--on-stop leave``: keep a job running past this run, for the next run to re-attach (None: nothing to
    # do, as on Studio, whose jobs run on anyway).
    keep_running: Callable[[int], None] | None = None

    def record_studio(self, spec: StudySpec, study: optuna.Study) -> str | None:
        """Record on ``study`` the local studio it uses (a no-op on Studio); a line to tell, when that is news."""
        if self.studio is None or self.home is None:
            return None
        return record_home(spec, study, self.home, self.studio)


def plan_target(spec: StudySpec, settings: Settings, study: optuna.Study | None, learn_blocks: list[int] | None = None,
                slots: list[int] | None = None) -> TargetPlan:
    """Check what can be checked without a server: the key is set (Studio), the local studio is the one
    ``study`` (None: not made yet) recorded, the local project exists there (or is a shipped one) and has the
    learn blocks asked for, the slots asked for exist. Reads only; starts and writes nothing. ``learn_blocks``
    and ``slots`` are the flags of the same names."""
    target = spec.target
    numbers = _slot_numbers(spec, learn_blocks, slots)
    project_id: int | None = None
    project: LocalProject | None = None
    known: set[int] | None = None
    home: StudioHome | None = None
    if target.kind == "studio":
        if not settings.has_api_key:
            raise SettingsError("EI_API_KEY", f"{spec.path}: target.kind is 'studio' but EI_API_KEY is not set")
    else:
        from sweep.local.datasets import peek_project  # light: numpy, no Keras and no server

        home = studio_home(spec, study, settings)
        try:
            project = peek_project(home.data_dir, target.project)
        except LocalStudioError as exc:
            raise StudyFileError(str(spec.path), "target.project", target.project, str(exc)) from None
        project_id, known = project.id, set(project.learn_block_ids)
    if numbers:
        return TargetPlan(slot_numbers=numbers, local_project_id=project_id, home=home, local_project=project)
    learn_ids = list(learn_blocks or target.learn_blocks or [])
    if known is not None:
        _check_known(spec, learn_ids, known)
    return TargetPlan(learn_ids=learn_ids, local_project_id=project_id, home=home, local_project=project)


def _slot_numbers(spec: StudySpec, learn_blocks: list[int] | None, slots: list[int] | None) -> list[int]:
    """This worker's slot numbers (1-based), or [] when the study trains on named learn blocks."""
    count = spec.target.slot_count
    if count == 0:
        if slots:
            raise SettingsError("--slots", f"{spec.path} trains on its learn blocks (target.learn_blocks), not on "
                                "cloned slots: give this worker some of them with --learn-blocks")
        return []
    if learn_blocks:
        example = ",".join(str(n) for n in range(1, min(count, 2) + 1))  # slots this study has
        raise SettingsError("--learn-blocks", f"{spec.path} trains on {count} cloned slot(s) (target.slots), never "
                            "on your own learn blocks: give this worker some of them with --slots, e.g. --slots "
                            + example)
    numbers = list(slots or range(1, count + 1))
    outside = [n for n in numbers if not 1 <= n <= count]
    if outside:
        raise SettingsError("--slots", f"the study has slots 1 to {count} (target.slots = {count}); "
                            f"no slot {outside[0]}")
    return numbers


@contextlib.contextmanager
def connect(spec: StudySpec, settings: Settings, plan: TargetPlan) -> Iterator[Connection]:
    """Open the study's target for ``plan``; the local studio is started (or reused) here and released on exit.
    Learn blocks the plan names are checked against the project's impulse (Keras blocks only)."""
    target = spec.target
    if target.kind == "studio":
        base_url = target.base_url or settings.studio_url or DEFAULT_STUDIO_URL
        with make_http_client(base_url, settings.api_key, timeout=settings.http_timeout_s) as http:
            client = StudioClient(http, target.project_id)
            _check_blocks(spec, client, plan.learn_ids)
            yield Connection(client, target.label)
        return
    from sweep.local.embedded import EmbeddedStudio  # heavy parts stay behind this door

    assert plan.local_project_id is not None and plan.home is not None
    with EmbeddedStudio(plan.home.data_dir, concurrency=max(1, plan.width)) as studio, \
            make_http_client(studio.base_url, studio.api_key, timeout=settings.http_timeout_s) as http:
        client = StudioClient(http, plan.local_project_id)
        _check_blocks(spec, client, plan.learn_ids)
        yield Connection(client, f"{target.label} (id {plan.local_project_id}) at {studio.base_url}", poll_max_s=2.0,
                         studio=studio.identity, home=plan.home, keep_running=studio.keep_job)


def _check_known(spec: StudySpec, learn_ids: list[int], known: set[int]) -> None:
    for lid in learn_ids:
        if lid not in known:
            file_blocks = list(spec.target.learn_blocks or [])
            where = "--learn-blocks" if learn_ids != file_blocks else "target.learn_blocks"
            raise StudyFileError(str(spec.path), where, lid,
                                 f"no learn block with this id in the project's impulse (it has {sorted(known)})")


def _check_blocks(spec: StudySpec, client: StudioClient, learn_ids: list[int]) -> None:
    if not learn_ids:
        return
    blocks: dict[int, ImpulseLearnBlock] = {b.id: b for b in client.impulse().learn_blocks}
    _check_known(spec, learn_ids, set(blocks))
    for lid in learn_ids:
        if not blocks[lid].is_keras:
            file_blocks = list(spec.target.learn_blocks or [])
            where = "--learn-blocks" if learn_ids != file_blocks else "target.learn_blocks"
            raise StudyFileError(str(spec.path), where, lid,
                                 f"learn block {lid} ({blocks[lid].name!r}) is a {blocks[lid].type} block, which "
                                 "trains on another route than the Keras blocks sweep tunes")
