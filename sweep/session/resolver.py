"""Every metric name a study uses, resolved against its target before anything is created.

The objectives, the constraints and the top-level ``device`` name metrics in the grammar of
:mod:`sweep.studio.metric_names`, which the file's loading checks. Whether the target's jobs will ever report
a name depends on the project: its devices (``latencyDevices[].mcu`` of ``GET /api/{projectId}``), its classes
(the training set's labels, ``dataSummary.labels``), the model types its learn block trains, and whether the
study measures DSP costs at all (only a study that tunes the impulse does). A name no job can report would
train every trial and fail each one after it, spending the quota: it is refused here, naming the file, the
field, the value and the choices, before any clone, job or journal exists. A fact the target does not give
(an empty device or label list) leaves the names it would check unchecked.

The local studio's facts are read from its project on disk, as its server will serve them, so a refused run
starts no server and writes no data dir; Studio's from the project route once connected.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sweep.errors import StudyFileError
from sweep.studio.metric_names import AVERAGES, DEFAULT, MODEL_TYPES, MetricName, parse, segment
from sweep.studio.models import ProjectInfoResponse
from sweep.study.spec import StudySpec

if TYPE_CHECKING:
    from sweep.local.datasets import LocalProject
    from sweep.session.target import TargetPlan
    from sweep.studio.client import StudioClient

__all__ = ["TargetFacts", "check_connected", "check_names", "check_planned", "learn_model_types"]


def learn_model_types(learn_types: Sequence[str]) -> tuple[str, ...]:
    """The model types learn blocks of these types train: float32 and int8, and akida for an Akida block."""
    if any("akida" in t for t in learn_types):
        return MODEL_TYPES
    return tuple(t for t in MODEL_TYPES if t != "akida")


@dataclass(frozen=True)
class TargetFacts:
    """What the target's jobs can report, known before any job (each as it appears in a metric name)."""

    where: str  # the target, for messages: ``Edge Impulse Studio project 5``
    devices: tuple[str, ...]  # () when the target lists none: device names are not checked
    classes: tuple[str, ...]  # () when the target lists none: class names are not checked
    model_types: tuple[str, ...]

    @classmethod
    def of_project(cls, info: ProjectInfoResponse, where: str, learn_types: Sequence[str]) -> TargetFacts:
        """From the project route's answer (``GET /api/{projectId}``) and the learn blocks' types."""
        return cls(where, tuple(segment(d.mcu) for d in info.latency_devices),
                   tuple(segment(label) for label in info.data_summary.labels), learn_model_types(learn_types))

    @classmethod
    def of_local(cls, project: LocalProject, where: str) -> TargetFacts:
        """A local project's, from the answers its server builds (nothing is started or written)."""
        from sweep.local.views import impulse_body, latency_devices

        types = [str(b["type"]) for b in impulse_body(project)["impulse"]["learnBlocks"]]
        return cls(where, tuple(segment(str(d["mcu"])) for d in latency_devices()),
                   tuple(segment(label) for label in project.labels), learn_model_types(types))

    def refusal(self, name: MetricName, *, tunes_impulse: bool) -> str | None:
        """Why no job of this target reports ``name`` (None: it may); ``tunes_impulse``: whether the study measures
        its DSP costs (:attr:`sweep.study.space.Space.tunes_impulse`, as the runner does)."""
        if name.model_type is not None and name.model_type not in self.model_types:
            return (f"the learn block of {self.where} trains no {name.model_type} model; its model types: "
                    f"{', '.join(self.model_types)}")
        if name.device is not None and (why := self.device_refusal(name.device)):
            return why
        if name.class_name is not None and not name.is_average and self.classes \
                and name.class_name not in self.classes:
            return (f"no class {name.class_name!r} in {self.where}{_near(name.class_name, self.classes)}; its "
                    f"classes: {', '.join(self.classes)} (or the averages {', '.join(AVERAGES.values())})")
        if name.impulse and not tunes_impulse:
            return ("DSP costs (dsp.*, total_*) are measured only in a study that tunes the impulse "
                    "([space.dsp.<block>] or [space.window]); this one tunes the network alone: name its cost "
                    f"({name.device}.latency_ms, .ram_bytes, .rom_bytes)")
        return None

    def device_refusal(self, device: str) -> str | None:
        """Why ``device`` names no device of this target (None: it does, or the target lists none)."""
        if device == DEFAULT or not self.devices or device in self.devices:
            return None
        return (f"no device {device!r} in {self.where}{_near(device, self.devices)}; its devices: "
                f"{', '.join(self.devices)}, or {DEFAULT} (the one it marks as default)")


def _near(word: str, choices: Sequence[str]) -> str:
    close = [c for c in choices if c.startswith(word)] or difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _names(spec: StudySpec) -> Iterator[tuple[str, str, str]]:
    """(field, value as written, metric name) of every metric name the study uses."""
    for i, objective in enumerate(spec.objectives):
        yield f"objectives[{i}].metric", objective.metric, objective.metric
    for i, constraint in enumerate(spec.constraints):
        yield f"constraints[{i}]", str(constraint), constraint.metric


def check_names(spec: StudySpec, facts: TargetFacts) -> None:
    """Refuse (StudyFileError, exit 2) the first objective, constraint or ``device`` no job of the target reports."""
    for field, value, text in _names(spec):
        name = parse(text)
        assert name is not None, text  # the file's loading checked the grammar
        if (why := facts.refusal(name, tunes_impulse=spec.space.tunes_impulse)) is not None:
            raise StudyFileError(str(spec.path), field, value, why)
    if spec.device is not None and (why := facts.device_refusal(spec.device)) is not None:
        raise StudyFileError(str(spec.path), "device", spec.device, why)


def check_planned(spec: StudySpec, plan: TargetPlan) -> None:
    """Before connecting: a local study's names against its project on disk (Studio's wait for the connection)."""
    if plan.local_project is not None:
        check_names(spec, TargetFacts.of_local(plan.local_project, spec.target.label))


def check_connected(spec: StudySpec, client: StudioClient, learn_ids: Sequence[int],
                    learn_types: Sequence[str] | None = None) -> None:
    """Once connected, before anything is created: a Studio study's names against its project. ``learn_types``:
    the types of the learn blocks it trains (read from the project's impulse for ``learn_ids`` when None)."""
    if spec.target.kind != "studio":
        return  # checked before connecting, from the same facts its server serves
    if learn_types is None:
        wanted = set(learn_ids)
        learn_types = [b.type for b in client.impulse().learn_blocks if b.id in wanted]
    check_names(spec, TargetFacts.of_project(client.project_info(), spec.target.label, learn_types))
