"""A trial's params -> its exact train request, built once, and the key that tells two configurations apart."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sweep.errors import MISSING, StudyFileError
from sweep.studio.impulse_models import dsp_wire_value
from sweep.studio.models import SetKerasParameterRequest
from sweep.study.effective import TOP_WIRE, effective_request
from sweep.study.space import LAYER_FIELDS, SPECTROGRAM_FIELDS, WINDOW_WIRE, is_tuned, parameters
from sweep.study.spec import StudySpec

__all__ = ["TrainRequest", "config_key", "impulse_settings", "seeded_key", "train_request"]


def train_request(spec: StudySpec, params: Mapping[str, Any]) -> SetKerasParameterRequest:
    """The exact train request of one trial: its params, the space's constants, and ``[fixed]``."""
    values: dict[str, Any] = {}
    for name, field, value in parameters(spec.space):
        if not is_tuned(value):
            values[name] = value
        elif name in params:
            values[name] = params[name]
        else:
            raise StudyFileError(str(spec.path), field, MISSING,
                                 f"the trial has no value for param {name!r} (was the space changed?)")
    body: dict[str, Any] = dict(spec.fixed)
    for name, wire in TOP_WIRE.items():
        if name in values:
            body[wire] = values[name]
    for wire in ("batchSize", "trainingCycles"):
        if wire in body:
            body[wire] = int(body[wire])
    if spec.space.augmentation_policy_spectrogram is not None:
        body["augmentationPolicySpectrogram"] = {
            name: values[f"spectrogram.{name}"] for name in SPECTROGRAM_FIELDS if f"spectrogram.{name}" in values
        }
    if spec.space.layers is not None:
        body["mode"] = "visual"
        body["visualLayers"] = _visual_layers(spec.space.layers, values)
    return SetKerasParameterRequest.model_validate(body)


def impulse_settings(spec: StudySpec, params: Mapping[str, Any]) -> dict[str, Any] | None:
    """What a trial sets on its impulse before training, as JSON: ``{"dsp": {block: {param: "value"}},
    "window": {"windowSizeMs": 1000, ...}}``; None when the space sets neither."""
    space = spec.space
    if not space.tunes_impulse:
        return None
    dsp: dict[str, dict[str, str]] = {}
    window: dict[str, int] = {}
    for name, _, value in parameters(space):
        chosen = params[name] if is_tuned(value) and name in params else value
        if is_tuned(chosen):
            raise StudyFileError(str(spec.path), name, MISSING, f"the trial has no value for param {name!r}")
        if name.startswith("dsp."):
            _, block, param = name.split(".", 2)
            dsp.setdefault(block, {})[param] = dsp_wire_value(chosen)
        elif name.startswith("window."):
            window[WINDOW_WIRE[name.removeprefix("window.")]] = int(chosen)
    return {"dsp": dsp, "window": window}


def _visual_layers(layers: list[Any], values: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, layer in enumerate(layers):
        one: dict[str, Any] = {"type": layer.type}
        for name in LAYER_FIELDS[:-1]:
            key = f"layers.{i}.{name}"
            if key in values:
                one[name] = values[key]
        out.extend(dict(one) for _ in range(int(values.get(f"layers.{i}.repeat", 1))))
    return out


def config_key(request: TrainRequest | SetKerasParameterRequest | Mapping[str, Any]) -> str:
    """A canonical hash of what a request body trains (:func:`~sweep.study.effective.effective_request`: values
    without effect left out): equal keys = the same model. A body as recorded on a trial is hashed without
    validating it again; numbers count by value (``32`` and ``32.0`` are one batch size), unset fields by absence."""
    if isinstance(request, TrainRequest):
        return request.key
    body = request.wire() if isinstance(request, SetKerasParameterRequest) else request
    return _hash(effective_request(body))


def _hash(value: Any) -> str:
    text = json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def seeded_key(key: str, seed: int) -> str:
    """A configuration key that also names the seed (for side studies, whose repeats differ by seed only)."""
    return f"{key}:seed={seed}"


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _key(body: Mapping[str, Any], impulse: Mapping[str, Any] | None) -> str:
    return config_key(body) if impulse is None else _hash({"request": effective_request(body), "impulse": impulse})


@dataclass(frozen=True)
class TrainRequest:
    """One trial's train request, built once: the model that is sent, the body recorded on the trial,
    the impulse settings set before it (``impulse_settings``; None: the impulse as it is) and the key
    naming the whole configuration (see :func:`config_key`)."""

    model: SetKerasParameterRequest
    body: dict[str, Any]
    key: str
    impulse: dict[str, Any] | None = None

    @classmethod
    def of(cls, model: SetKerasParameterRequest, impulse: dict[str, Any] | None = None) -> TrainRequest:
        body = model.wire()
        return cls(model, body, _key(body, impulse), impulse)

    def seeded(self, seed: int) -> TrainRequest:
        """The same request, keyed with its seed too: repeats with other seeds are not twins."""
        return TrainRequest(self.model, self.body, seeded_key(self.key, seed), self.impulse)

    def with_columns(self, columns: int) -> TrainRequest:
        """The request with every reshape layer that names no ``columns`` given these (the features' width);
        the key stays: it names the configuration, which the features' shape follows from."""
        layers = [layer.model_copy(update={"columns": columns})
                  if layer.type == "reshape" and layer.columns is None else layer
                  for layer in self.model.visual_layers or []]
        if not self.model.visual_layers or layers == self.model.visual_layers:
            return self
        model = self.model.model_copy(update={"visual_layers": layers})
        return TrainRequest(model, model.wire(), self.key, self.impulse)

    @classmethod
    def recorded(cls, body: Mapping[str, Any], impulse: Mapping[str, Any] | None = None) -> TrainRequest:
        """A trial's recorded body and impulse settings (a re-attached trial's), validated once."""
        settings = dict(impulse) if impulse is not None else None
        return cls(SetKerasParameterRequest.model_validate(dict(body)), dict(body), _key(body, settings), settings)
