"""Learn-block metadata -> flat metrics, curves and confusion matrices (pure, no I/O).

Flat keys (the names objectives, constraints and reports use; their grammar, the parts written here and the
parser that reads a study's names back, is :mod:`sweep.studio.metric_names`)::

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

from sweep.studio.impulse_models import DspDevicePerformance
from sweep.studio.metric_names import (
    AVERAGES,
    CLASS_FIELDS,
    DEFAULT,
    DEVICE_FIELDS,
    is_device_metric,
    is_metric,
    parse,
    segment,
)
from sweep.studio.models import DeviceBudget, KerasModelMetadata, ModelMetrics, ModelType, OnDevicePerformance

__all__ = [
    "DEVICE_FIELDS",
    "confusion_matrices",
    "curves_from_metadata",
    "dsp_metrics",
    "flatten_metadata",
    "is_device_metric",
    "is_metric",
    "profiling_failed",
    "profiling_pending",
]



def _model_metrics(mm: ModelMetrics) -> dict[str, float]:
    mt = mm.type.value
    out: dict[str, float] = {f"{mt}.loss": float(mm.loss)}
    if mm.accuracy is not None:
        out[f"{mt}.accuracy"] = float(mm.accuracy)
    for label, row in mm.report.items():
        if not isinstance(row, dict):
            continue
        name = AVERAGES.get(label, segment(label))
        for field, short in CLASS_FIELDS.items():
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
            values[f"custom.{segment(custom.name)}"] = float(custom.value)
        except ValueError:
            continue  # a text value is not a metric
    device = segment(perf.mcu)
    for field, value in values.items():
        out[f"{mt}.{device}.{field}"] = value
        if perf.is_default:
            out[f"{mt}.{DEFAULT}.{field}"] = value


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
        short = parse(key[len(prefix):]) if key.startswith(prefix) else None
        if short is not None and short.device is not None and short.model_type is None:
            flat[short.text] = value  # ``{device}.…``: the selected model type's
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
            device = segment(perf.mcu)
            for field, value in (("latency_ms", perf.latency), ("ram_bytes", perf.ram)):
                out[f"{device}.dsp.{field}"] = out.get(f"{device}.dsp.{field}", 0.0) + float(value)
    for device in {key.split(".")[0] for key in out}:
        for field in ("latency_ms", "ram_bytes"):
            if f"{device}.{field}" in metrics:
                out[f"{device}.total_{field}"] = out[f"{device}.dsp.{field}"] + metrics[f"{device}.{field}"]
        if f"{device}.rom_bytes" in metrics:
            out[f"{device}.total_rom_bytes"] = metrics[f"{device}.rom_bytes"]
    return out
