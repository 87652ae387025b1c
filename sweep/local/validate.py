"""Keras-free checks of a train request and the layer plan (shapes, MACs) both validation and the trainer use.

Layer rules (Studio's visual mode, as the local studio builds it):
- the model input is the flat feature vector (F = prod(input_shape)), as Studio passes it;
- ``reshape`` with ``columns`` c -> (F/c, c) before conv1d, (F/c, c, 1) before conv2d
  (channels = the project's channels when the project is 3-D with c == its width);
- conv1d/conv2d straight on the flat input use the project's shape: conv2d -> (H, W, C),
  conv1d -> (H, W*C) (time x features); 1-D (features) projects need an explicit reshape;
- each conv layer = ``stack`` x Conv(``neurons`` filters, ``kernelSize``, padding same, ReLU),
  then MaxPooling (pool 2, stride 2, padding same);
- ``dense`` = Dense(neurons, ReLU); a Flatten is inserted automatically before a dense layer
  (and before the final softmax) when the tensor is not flat;
- ``enabled: false`` layers are skipped; the final layer is Dense(len(labels), softmax).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sweep.errors import ApiError
from sweep.studio.models import SetKerasParameterRequest, VisualLayer

if TYPE_CHECKING:
    from sweep.local.datasets import LocalProject

__all__ = ["LIMITS", "Step", "plan_layers", "total_macs", "total_params", "validate_request"]

LIMITS: dict[str, float] = {"batch_size": 65536, "training_cycles": 10000, "neurons": 4096, "kernel_size": 64,
                            "stack": 16, "params": 20_000_000, "layers": 256, "keras_layers": 1024}
KNOWN_TYPES = {"dense", "conv1d", "conv2d", "reshape", "flatten", "dropout", "batchNormalization"}
DEFAULTS = {"dense": 20, "conv1d": 8, "conv2d": 8, "kernel": 3, "stack": 1, "dropout": 0.25}


@dataclass(frozen=True)
class Step:
    """One concrete Keras layer of the plan: its op, output shape (no batch), MACs and weights."""

    op: str  # reshape|conv1d|conv2d|maxpool1d|maxpool2d|dense|flatten|dropout|batchnorm|softmax
    out_shape: tuple[int, ...]
    macs: int = 0
    params: int = 0
    args: dict[str, Any] = field(default_factory=dict)


def _bad(message: str) -> ApiError:
    return ApiError(message, status_code=400)


def _next_conv(layers: list[VisualLayer], start: int) -> str | None:
    for layer in layers[start:]:
        if layer.type in ("conv1d", "conv2d") and layer.enabled is not False:
            return layer.type
    return None


def _reshape_to(columns: int, flat: int, next_conv: str | None, project_shape: tuple[int, ...], where: str
                ) -> tuple[int, ...]:
    if columns < 1 or flat % columns:
        raise _bad(f"{where}: columns {columns} does not divide the {flat} input features")
    if next_conv == "conv2d":
        ch = project_shape[2] if len(project_shape) == 3 and columns == project_shape[1] else 1
        if flat % (columns * ch):
            ch = 1
        return (flat // (columns * ch), columns, ch)
    return (flat // columns, columns)


def plan_layers(layers: list[VisualLayer], input_shape: tuple[int, ...], n_classes: int) -> list[Step]:
    """Concrete layer plan for ``layers`` on a flat input of prod(input_shape); ApiError(400) if unbuildable."""
    flat = math.prod(input_shape)
    shape: tuple[int, ...] = (flat,)
    steps: list[Step] = []

    def flatten() -> None:
        nonlocal shape
        if len(shape) > 1:
            shape = (math.prod(shape),)
            steps.append(Step("flatten", shape))

    def dense(units: int, op: str) -> None:
        nonlocal shape
        flatten()
        steps.append(Step(op, (units,), macs=shape[0] * units, params=(shape[0] + 1) * units, args={"units": units}))
        shape = (units,)

    for i, layer in enumerate(layers):
        where = f"visualLayers[{i}] ({layer.type})"
        if layer.enabled is False:
            continue
        t = layer.type
        if t == "dense":
            dense(layer.neurons or DEFAULTS["dense"], "dense")
        elif t == "reshape":
            if len(shape) != 1:
                raise _bad(f"{where}: reshape must come before any conv layer (input is {shape})")
            default_cols = input_shape[1] if len(input_shape) >= 2 else None
            columns = layer.columns or default_cols
            if columns is None:
                raise _bad(f"{where}: columns is required for a {len(input_shape)}-D input")
            shape = _reshape_to(columns, flat, _next_conv(layers, i + 1), input_shape, where)
            steps.append(Step("reshape", shape, args={"target": shape}))
        elif t in ("conv1d", "conv2d"):
            rank = 2 if t == "conv1d" else 3
            if len(shape) == 1:
                if len(input_shape) < 2 or shape[0] != flat:
                    raise _bad(f"{where}: needs a reshape layer (columns) first on a {len(shape)}-D input {shape}")
                if rank == 3 and len(input_shape) == 2:
                    shape = (*input_shape, 1)
                elif rank == 3:
                    shape = tuple(input_shape)
                else:
                    shape = (input_shape[0], flat // input_shape[0])
                steps.append(Step("reshape", shape, args={"target": shape}))
            if len(shape) != rank:
                raise _bad(f"{where}: {t} needs a {rank - 1}-D feature map, the input here is {shape}")
            filters, k = layer.neurons or DEFAULTS[t], layer.kernel_size or DEFAULTS["kernel"]
            for _ in range(layer.stack or DEFAULTS["stack"]):
                cin, spatial = shape[-1], shape[:-1]
                area = math.prod(spatial)
                kk = k ** (rank - 1)
                steps.append(Step(t, (*spatial, filters), macs=area * kk * cin * filters,
                                  params=(kk * cin + 1) * filters, args={"filters": filters, "kernel": k}))
                shape = (*spatial, filters)
            shape = (*(math.ceil(s / 2) for s in shape[:-1]), shape[-1])
            steps.append(Step("maxpool1d" if rank == 2 else "maxpool2d", shape, macs=math.prod(shape) * 2 ** (rank - 1)))
        elif t == "flatten":
            flatten()
        elif t == "dropout":
            steps.append(Step("dropout", shape, args={"rate": DEFAULTS["dropout"] if layer.dropout_rate is None
                                                       else layer.dropout_rate}))
        elif t == "batchNormalization":
            steps.append(Step("batchnorm", shape, macs=math.prod(shape), params=4 * shape[-1]))
        # transfer_* and other Studio-only blocks are refused by the trainer (JobFailed), not planned here
    dense(n_classes, "softmax")
    return steps


def total_macs(steps: list[Step]) -> int:
    return sum(s.macs for s in steps)


def total_params(steps: list[Step]) -> int:
    return sum(s.params for s in steps)


def _check_layer(i: int, layer: VisualLayer) -> None:
    where = f"visualLayers[{i}] ({layer.type})"
    if layer.type not in KNOWN_TYPES and not layer.type.startswith("transfer_"):
        raise _bad(f"{where}: unknown layer type {layer.type!r}; known: {', '.join(sorted(KNOWN_TYPES))}")
    for name, value, limit in (("neurons", layer.neurons, LIMITS["neurons"]),
                               ("kernelSize", layer.kernel_size, LIMITS["kernel_size"]),
                               ("stack", layer.stack, LIMITS["stack"]),
                               ("columns", layer.columns, 1 << 24)):
        if value is not None and not 1 <= value <= limit:
            raise _bad(f"{where}: {name} must be in 1..{int(limit)} (got {value})")
    if layer.dropout_rate is not None and not 0.0 <= layer.dropout_rate < 1.0:
        raise _bad(f"{where}: dropoutRate must be in [0, 1) (got {layer.dropout_rate})")


def validate_request(request: SetKerasParameterRequest, project: LocalProject) -> None:
    """Cheap checks before a job is queued; raises ApiError(status_code=400) naming the field and value."""
    r = request
    if r.learning_rate is not None and not 0.0 < r.learning_rate <= 1.0:
        raise _bad(f"learningRate must be in (0, 1] (got {r.learning_rate})")
    if r.batch_size is not None and not 1 <= r.batch_size <= LIMITS["batch_size"]:
        raise _bad(f"batchSize must be in 1..{int(LIMITS['batch_size'])} (got {r.batch_size})")
    if r.training_cycles is not None and not 1 <= r.training_cycles <= LIMITS["training_cycles"]:
        raise _bad(f"trainingCycles must be in 1..{int(LIMITS['training_cycles'])} (got {r.training_cycles})")
    if r.train_test_split is not None and not 0.0 < r.train_test_split < 1.0:
        raise _bad(f"trainTestSplit must be in (0, 1) (got {r.train_test_split})")
    layers = r.visual_layers or []
    if len(layers) > LIMITS["layers"]:
        raise _bad(f"visualLayers: at most {int(LIMITS['layers'])} layers (got {len(layers)})")
    for i, layer in enumerate(layers):
        _check_layer(i, layer)
    if r.mode == "expert" or any(layer.type.startswith("transfer_") for layer in layers):
        return  # the trainer refuses these as a failed job, as it cannot run them offline
    steps = plan_layers(layers, project.input_shape, len(project.labels))
    if len(steps) > LIMITS["keras_layers"]:
        raise _bad(f"visualLayers: the model would have {len(steps)} Keras layers, over {int(LIMITS['keras_layers'])}")
    if total_params(steps) > LIMITS["params"]:
        raise _bad(f"visualLayers: the model has {total_params(steps)} weights, over {int(LIMITS['params'])}")
