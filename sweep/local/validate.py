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
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sweep.errors import ApiError
from sweep.studio.models import ModelType, SetKerasParameterRequest, VisualLayer

if TYPE_CHECKING:
    from sweep.local.datasets import LocalProject

__all__ = ["LIMITS", "Step", "plan_layers", "refusals", "total_macs", "total_params", "validate_request"]

LIMITS: dict[str, int] = {"batch_size": 65536, "training_cycles": 10000, "neurons": 4096, "kernel_size": 64,
                          "stack": 16, "params": 20_000_000, "layers": 256, "keras_layers": 1024}
KNOWN_TYPES = {"dense", "conv1d", "conv2d", "reshape", "flatten", "dropout", "batchNormalization"}
DEFAULTS: dict[str, int] = {"dense": 20, "conv1d": 8, "conv2d": 8, "kernel": 3, "stack": 1}
DEFAULT_DROPOUT = 0.25


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
    plan = _Planner(layers, input_shape)
    for i, layer in enumerate(layers):
        if layer.enabled is not False:
            plan.add(i, layer)
    plan.dense(n_classes, "softmax")
    return plan.steps


class _Planner:
    """The running shape and steps of a plan, one method per visual layer kind."""

    def __init__(self, layers: list[VisualLayer], input_shape: tuple[int, ...]) -> None:
        self.layers, self.input_shape = layers, input_shape
        self.flat = math.prod(input_shape)
        self.shape: tuple[int, ...] = (self.flat,)
        self.steps: list[Step] = []

    def add(self, i: int, layer: VisualLayer) -> None:
        where = f"visualLayers[{i}] ({layer.type})"
        t = layer.type
        if t == "dense":
            self.dense(layer.neurons or DEFAULTS["dense"], "dense")
        elif t == "reshape":
            self.reshape(i, layer, where)
        elif t in ("conv1d", "conv2d"):
            self.conv(layer, where)
        elif t == "flatten":
            self.flatten()
        elif t == "dropout":
            rate = DEFAULT_DROPOUT if layer.dropout_rate is None else layer.dropout_rate
            self.steps.append(Step("dropout", self.shape, args={"rate": rate}))
        elif t == "batchNormalization":
            self.steps.append(Step("batchnorm", self.shape, macs=math.prod(self.shape), params=4 * self.shape[-1]))
        # transfer_* and other Studio-only blocks are refused by the trainer (JobFailed), not planned here

    def flatten(self) -> None:
        if len(self.shape) > 1:
            self.shape = (math.prod(self.shape),)
            self.steps.append(Step("flatten", self.shape))

    def dense(self, units: int, op: str) -> None:
        self.flatten()
        inputs = self.shape[0]
        self.steps.append(Step(op, (units,), macs=inputs * units, params=(inputs + 1) * units, args={"units": units}))
        self.shape = (units,)

    def reshape(self, i: int, layer: VisualLayer, where: str) -> None:
        if len(self.shape) != 1:
            raise _bad(f"{where}: reshape must come before any conv layer (input is {self.shape})")
        default_cols = self.input_shape[1] if len(self.input_shape) >= 2 else None
        columns = layer.columns or default_cols
        if columns is None:
            raise _bad(f"{where}: columns is required for a {len(self.input_shape)}-D input")
        self.shape = _reshape_to(columns, self.flat, _next_conv(self.layers, i + 1), self.input_shape, where)
        self.steps.append(Step("reshape", self.shape, args={"target": self.shape}))

    def conv(self, layer: VisualLayer, where: str) -> None:
        t = layer.type
        rank = 2 if t == "conv1d" else 3
        if len(self.shape) == 1:
            self._feature_map(rank, where)
        if len(self.shape) != rank:
            raise _bad(f"{where}: {t} needs a {rank - 1}-D feature map, the input here is {self.shape}")
        filters, k = layer.neurons or DEFAULTS[t], layer.kernel_size or DEFAULTS["kernel"]
        for _ in range(layer.stack or DEFAULTS["stack"]):
            cin, spatial = self.shape[-1], self.shape[:-1]
            kk = k ** (rank - 1)
            self.steps.append(Step(t, (*spatial, filters), macs=math.prod(spatial) * kk * cin * filters,
                                   params=(kk * cin + 1) * filters, args={"filters": filters, "kernel": k}))
            self.shape = (*spatial, filters)
        self.shape = (*(math.ceil(s / 2) for s in self.shape[:-1]), self.shape[-1])
        pool = "maxpool1d" if rank == 2 else "maxpool2d"
        self.steps.append(Step(pool, self.shape, macs=math.prod(self.shape) * 2 ** (rank - 1)))

    def _feature_map(self, rank: int, where: str) -> None:
        """A conv layer straight on the flat input: the project's own shape (see the module docstring)."""
        if len(self.input_shape) < 2 or self.shape[0] != self.flat:
            raise _bad(f"{where}: needs a reshape layer (columns) first on a {len(self.shape)}-D input {self.shape}")
        if rank == 3 and len(self.input_shape) == 2:
            self.shape = (*self.input_shape, 1)
        elif rank == 3:
            self.shape = tuple(self.input_shape)
        else:
            self.shape = (self.input_shape[0], self.flat // self.input_shape[0])
        self.steps.append(Step("reshape", self.shape, args={"target": self.shape}))


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


def refusals(request: SetKerasParameterRequest, *, user_code: bool | None) -> list[str]:
    """What of ``request`` the local studio cannot train, one reason each (empty: it can). The trainer fails
    a job with the first; a sweep checks a baseline with them before any job. ``user_code``: whether the
    server runs expert scripts (``sweep serve --allow-user-code``); None when the caller cannot know."""
    r = request
    out: list[str] = []
    if r.mode == "expert":
        script = r.script or ""
        if user_code is False:
            out.append("expert mode runs user code; start the local studio with user code allowed to run it")
        if not script.strip():
            out.append("expert mode needs a script defining build_model(input_length, classes)")
        elif not re.search(r"\bbuild_model\b", script):
            out.append("expert mode: the script defines no build_model(input_length, classes), the function the "
                       "local studio calls (Studio's own expert scripts do not run here)")
    out += [f"layer type {layer.type!r} (pretrained transfer learning) is not available offline"
            for layer in r.visual_layers or [] if layer.type.startswith("transfer_") and layer.enabled is not False]
    if r.selected_model_type in (ModelType.AKIDA, ModelType.REQUIRES_RETRAIN):
        out.append(f"selectedModelType {r.selected_model_type.value!r} is not available in the local studio")
    if r.akida_edge_learning_config and r.akida_edge_learning_config.get("enabled"):
        out.append("akidaEdgeLearningConfig is not available in the local studio")
    if r.use_learned_optimizer:
        out.append("useLearnedOptimizer (VeLO) is not available in the local studio")
    if r.custom_validation_metadata_key:
        out.append("customValidationMetadataKey: local projects carry no sample metadata")
    if r.custom_parameters or r.block_parameters:
        out.append("customParameters/blockParameters apply to custom learn blocks, not the local Keras block")
    if r.k_folds_validation_config:
        out.append("kFoldsValidationConfig (k-fold cross-validation) is not available in the local studio")
    return out
