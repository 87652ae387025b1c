"""Learn-block metadata -> flat metrics, curves and confusion matrices (pure, no I/O).

Flat keys (the names objectives, constraints and reports use)::

    {mt}.accuracy  {mt}.loss  {mt}.f1.{class}  {mt}.precision.{class}  {mt}.recall.{class}
    {mt}.f1.macro_avg  {mt}.f1.weighted_avg
    {mt}.{device}.latency_ms|ram_bytes|rom_bytes|model_bytes|arena_bytes     (TFLite)
    {mt}.{device}.eon.<budget>  {mt}.{device}.eon_ram_optimized.<budget>      (EON compiler;
                      <budget> = ram_bytes|rom_bytes|model_bytes|arena_bytes)
    {mt}.{device}.custom.{name}   a numeric custom metric of the device (``customMetrics``)
    {device}.<same>   the selected model type (int8 unless the request says otherwise)
    {device}.dsp.latency_ms|ram_bytes      the impulse's DSP blocks (summed), ``GET /dsp/{id}/performance``
    {device}.total_latency_ms = dsp.latency_ms + latency_ms   (DSP, then the network: one inference)
    {device}.total_ram_bytes  = dsp.ram_bytes + ram_bytes     (an upper bound: the features the DSP writes
                                                                stay alive while the network reads them)
    {device}.total_rom_bytes  = rom_bytes                     (Studio reports no DSP ROM)
    default.<same>    the device Studio marks as default
    int8.accuracy_drop = float32.accuracy - int8.accuracy
    compute_time_s    wall_time_s
"""

from __future__ import annotations

import re

from sweep.studio.impulse_models import DspDevicePerformance
from sweep.studio.models import DeviceBudget, KerasModelMetadata, ModelMetrics, ModelType, OnDevicePerformance

__all__ = [
    "DEVICE_FIELDS",
    "METRIC_RE",
    "confusion_matrices",
    "curves_from_metadata",
    "dsp_metrics",
    "flatten_metadata",
    "is_device_metric",
    "is_metric",
    "profiling_failed",
    "profiling_pending",
]

DEVICE_FIELDS = ("latency_ms", "ram_bytes", "rom_bytes", "model_bytes", "arena_bytes")
_AVERAGES = {"macro avg": "macro_avg", "weighted avg": "weighted_avg"}


def _key(text: str) -> str:
    """A class name as it appears inside a metric key (spaces and dots would be ambiguous)."""
    return re.sub(r"[\s.]+", "_", str(text).strip())


def _model_metrics(mm: ModelMetrics) -> dict[str, float]:
    mt = mm.type.value
    out: dict[str, float] = {f"{mt}.loss": float(mm.loss)}
    if mm.accuracy is not None:
        out[f"{mt}.accuracy"] = float(mm.accuracy)
    for label, row in mm.report.items():
        if not isinstance(row, dict):
            continue
        name = _AVERAGES.get(label, _key(label))
        for field, short in (("f1-score", "f1"), ("precision", "precision"), ("recall", "recall")):
            value = row.get(field)
            if isinstance(value, (int, float)):
                out[f"{mt}.{short}.{name}"] = float(value)
    for perf in mm.on_device_performance:
        if perf.has_performance:
            _device_metrics(out, mt, perf)
    return out


def _budget(budget: DeviceBudget) -> dict[str, float]:
    return {"ram_bytes": float(budget.ram_required), "rom_bytes": float(budget.rom_required),
            "model_bytes": float(budget.model_size), "arena_bytes": float(budget.arena_size)}


def _device_metrics(out: dict[str, float], mt: str, perf: OnDevicePerformance) -> None:
    """``{mt}.{device}.latency_ms`` and the TFLite budget, ``.eon.*`` and ``.eon_ram_optimized.*`` for the EON
    compiler's, and ``.custom.<name>`` for each numeric custom metric; ``{mt}.default.*`` repeats the default
    device's."""
    values = {"latency_ms": float(perf.latency), **_budget(perf.tflite)}
    values.update({f"eon.{k}": v for k, v in _budget(perf.eon).items()})
    if perf.eon_ram_optimized is not None:
        values.update({f"eon_ram_optimized.{k}": v for k, v in _budget(perf.eon_ram_optimized).items()})
    for custom in perf.custom_metrics or []:
        try:
            values[f"custom.{_key(custom.name)}"] = float(custom.value)
        except ValueError:
            continue  # a text value is not a metric
    device = _key(perf.mcu)
    for field, value in values.items():
        out[f"{mt}.{device}.{field}"] = value
        if perf.is_default:
            out[f"{mt}.default.{field}"] = value


def flatten_metadata(
    metadata: KerasModelMetadata,
    *,
    selected: ModelType | str | None = None,
    compute_time_s: float | None = None,
) -> dict[str, float]:
    """Every number of the metadata as ``{flat key: value}``; device shorthands follow ``selected``."""
    flat: dict[str, float] = {}
    for mm in metadata.model_validation_metrics:
        flat.update(_model_metrics(mm))
    chosen = ModelType(selected).value if selected else _preferred_type(metadata)
    prefix = f"{chosen}."
    for key, value in list(flat.items()):
        rest = key[len(prefix):] if key.startswith(prefix) else None
        if rest and is_device_metric(rest) and _DEVICE_KEY.match(rest):
            flat[rest] = value
    if "float32.accuracy" in flat and "int8.accuracy" in flat:
        flat["int8.accuracy_drop"] = flat["float32.accuracy"] - flat["int8.accuracy"]
    if compute_time_s is not None:
        flat["compute_time_s"] = float(compute_time_s)
    return flat


def _preferred_type(metadata: KerasModelMetadata) -> str:
    available = {m.type.value for m in metadata.model_validation_metrics}
    for candidate in ("int8", metadata.recommended_model_type.value, "float32"):
        if candidate in available:
            return candidate
    return metadata.recommended_model_type.value


def profiling_pending(metadata: KerasModelMetadata) -> int | None:
    """The profiling job id while device metrics are still being computed, else None."""
    for mm in metadata.model_validation_metrics:
        if mm.profiling_job_id is not None:
            return mm.profiling_job_id
    return None


def profiling_failed(metadata: KerasModelMetadata) -> bool:
    """Whether the metadata says its profiling job failed (``profilingJobFailed``; the id may stay set)."""
    return any(mm.profiling_job_failed for mm in metadata.model_validation_metrics)


def confusion_matrices(metadata: KerasModelMetadata) -> dict[str, list[list[float]]]:
    """Confusion matrix per model type (rows = true class)."""
    return {mm.type.value: [list(map(float, row)) for row in mm.confusion_matrix]
            for mm in metadata.model_validation_metrics}





def curves_from_metadata(metadata: KerasModelMetadata) -> dict[str, list[float]]:
    """Per-epoch series from ``tensorboardGraphs`` keyed by series title (``val_loss``...)."""
    curves: dict[str, list[float]] = {}
    for graph in metadata.tensorboard_graphs or []:
        for series in graph.data:
            name = series.title.strip().lower().replace(" ", "_")
            if name not in curves:
                curves[name] = [float(v) for v in series.values]
    return curves


def dsp_metrics(per_block: list[list[DspDevicePerformance]], metrics: dict[str, float]) -> dict[str, float]:
    """The DSP blocks' cost per device (summed over the blocks that feed the model) and the totals with the
    network's figures in ``metrics`` (the selected model type's ``{device}.latency_ms`` ...), where both exist."""
    out: dict[str, float] = {}
    for block in per_block:
        for perf in block:
            device = _key(perf.mcu)
            for field, value in (("latency_ms", perf.latency), ("ram_bytes", perf.ram)):
                out[f"{device}.dsp.{field}"] = out.get(f"{device}.dsp.{field}", 0.0) + float(value)
    for device in {key.split(".")[0] for key in out}:
        for field in ("latency_ms", "ram_bytes"):
            if f"{device}.{field}" in metrics:
                out[f"{device}.total_{field}"] = out[f"{device}.dsp.{field}"] + metrics[f"{device}.{field}"]
        if f"{device}.rom_bytes" in metrics:
            out[f"{device}.total_rom_bytes"] = metrics[f"{device}.rom_bytes"]
    return out


# ---- the grammar of flat keys (what a study file may name) ------------------------------------

_FIELDS_RE = "(?:" + "|".join(DEVICE_FIELDS) + ")"
_BUDGET_RE = r"(?:ram_bytes|rom_bytes|model_bytes|arena_bytes)"
_MT = r"(?:float32|int8|akida)"
_SEG = r"[^\s.]+"
# What follows the device in a device metric: a TFLite figure, an EON compiler budget, a custom metric.
_DEVICE_TAIL = rf"(?:{_FIELDS_RE}|eon\.{_BUDGET_RE}|eon_ram_optimized\.{_BUDGET_RE}|custom\.{_SEG})"
_DEVICE_KEY = re.compile(rf"^{_SEG}\.{_DEVICE_TAIL}$")
_IMPULSE_TAIL = r"(?:dsp\.(?:latency_ms|ram_bytes)|total_(?:latency_ms|ram_bytes|rom_bytes))"
METRIC_RE = re.compile(
    rf"^(?:compute_time_s|wall_time_s|int8\.accuracy_drop|{_MT}\.(?:accuracy|loss)"
    rf"|{_MT}\.(?:f1|precision|recall)\.{_SEG}|(?:{_MT}\.)?{_SEG}\.{_DEVICE_TAIL}|{_SEG}\.{_IMPULSE_TAIL})$"
)


def is_metric(name: str) -> bool:
    """Whether ``name`` follows the grammar of the flat keys above."""
    return METRIC_RE.match(name) is not None


def is_device_metric(name: str) -> bool:
    """Whether ``name`` is an on-device figure (it needs profiling to have finished)."""
    parts = name.split(".")
    return (parts[-1] in DEVICE_FIELDS or parts[-1].startswith("total_")
            or (len(parts) >= 3 and parts[-2] == "custom"))
