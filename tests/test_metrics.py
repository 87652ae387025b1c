"""Metadata -> flat metrics, curves and confusion matrices."""

from __future__ import annotations

from typing import Any

import pytest
from edgeimpulse_api.models.keras_model_metadata import (
    KerasModelMetadata as OfficialMetadata,
)

from sweep.studio.metrics import (
    confusion_matrices,
    curves_from_metadata,
    flatten_metadata,
    profiling_pending,
)
from sweep.studio.models import KerasModelMetadata


def _budget(ram: int, rom: int) -> dict[str, int]:
    return {"ramRequired": ram, "romRequired": rom, "arenaSize": ram - 100, "modelSize": rom - 1000}


def _perf(mcu: str, latency: float, ram: int, rom: int, default: bool = False) -> dict[str, Any]:
    return {"mcu": mcu, "name": mcu.upper(), "isDefault": default, "latency": latency,
            "tflite": _budget(ram, rom), "eon": _budget(ram - 10, rom - 10), "hasPerformance": True}


def _metrics(mt: str, acc: float, loss: float, scale: int, profiling: int | None = None) -> dict[str, Any]:
    return {
        "type": mt, "loss": loss, "accuracy": acc,
        "confusionMatrix": [[9.0, 1.0], [2.0, 8.0]],
        "report": {
            "yes": {"precision": 0.8, "recall": 0.9, "f1-score": 0.85, "support": 10},
            "no no": {"precision": 0.9, "recall": 0.8, "f1-score": 0.84, "support": 10},
            "accuracy": acc,
            "macro avg": {"precision": 0.85, "recall": 0.85, "f1-score": 0.845, "support": 20},
            "weighted avg": {"precision": 0.85, "recall": 0.85, "f1-score": 0.846, "support": 20},
        },
        "onDevicePerformance": [
            _perf("cortex-m4f-80mhz", 10.0 * scale, 4000 * scale, 20000 * scale, default=True),
            _perf("esp32-240mhz", 3.0 * scale, 4100 * scale, 21000 * scale),
        ],
        "visualization": "featureExplorer", "isSupportedOnMcu": True, "additionalMetrics": [],
        **({"profilingJobId": profiling} if profiling else {}),
    }


def metadata(profiling: int | None = None, graphs: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "created": "2026-11-26T10:00:00Z", "layers": [], "classNames": ["yes", "no no"], "labels": ["yes", "no no"],
        "availableModelTypes": ["float32", "int8"], "recommendedModelType": "int8",
        "modelValidationMetrics": [_metrics("float32", 0.9, 0.3, 4), _metrics("int8", 0.85, 0.35, 1, profiling)],
        "hasTrainedModel": True, "mode": "visual", "imageInputScaling": "0..1", "thresholds": [],
    }
    if graphs:
        body["tensorboardGraphs"] = [{"title": "Training", "data": [
            {"title": "val_accuracy", "values": [0.5, 0.7, 0.8]}, {"title": "val_loss", "values": [1.0, 0.6, 0.4]}]}]
    return body


def test_fixture_is_the_official_shape() -> None:
    OfficialMetadata.from_dict(metadata(profiling=5))


def test_flatten_every_number() -> None:
    flat = flatten_metadata(KerasModelMetadata.model_validate(metadata()), compute_time_s=12.5)
    assert flat["float32.accuracy"] == 0.9 and flat["int8.loss"] == 0.35
    assert flat["int8.f1.yes"] == 0.85 and flat["int8.f1.no_no"] == 0.84
    assert flat["float32.precision.no_no"] == 0.9 and flat["int8.recall.yes"] == 0.9
    assert flat["int8.f1.macro_avg"] == 0.845 and flat["int8.f1.weighted_avg"] == 0.846
    assert flat["float32.cortex-m4f-80mhz.latency_ms"] == 40.0
    assert flat["int8.esp32-240mhz.ram_bytes"] == 4100 and flat["int8.esp32-240mhz.rom_bytes"] == 21000
    assert flat["int8.cortex-m4f-80mhz.model_bytes"] == 19000 and flat["int8.cortex-m4f-80mhz.arena_bytes"] == 3900
    # shorthands follow int8 by default, "default" follows isDefault
    assert flat["cortex-m4f-80mhz.latency_ms"] == 10.0
    assert flat["int8.default.ram_bytes"] == 4000 and flat["default.ram_bytes"] == 4000
    assert flat["int8.accuracy_drop"] == pytest.approx(0.05)
    assert flat["compute_time_s"] == 12.5


def test_shorthand_follows_selected_model_type() -> None:
    flat = flatten_metadata(KerasModelMetadata.model_validate(metadata()), selected="float32")
    assert flat["cortex-m4f-80mhz.latency_ms"] == 40.0 and flat["default.rom_bytes"] == 80000


def test_devices_without_performance_are_left_out() -> None:
    body = metadata()
    for m in body["modelValidationMetrics"]:
        m["onDevicePerformance"][1]["hasPerformance"] = False
    flat = flatten_metadata(KerasModelMetadata.model_validate(body))
    assert not any("esp32" in k for k in flat)


def test_profiling_and_confusion() -> None:
    assert profiling_pending(KerasModelMetadata.model_validate(metadata(profiling=77))) == 77
    assert profiling_pending(KerasModelMetadata.model_validate(metadata())) is None
    cm = confusion_matrices(KerasModelMetadata.model_validate(metadata()))
    assert cm["int8"] == [[9.0, 1.0], [2.0, 8.0]] and set(cm) == {"float32", "int8"}


def test_curves_from_metadata() -> None:
    curves = curves_from_metadata(KerasModelMetadata.model_validate(metadata()))
    assert curves == {"val_accuracy": [0.5, 0.7, 0.8], "val_loss": [1.0, 0.6, 0.4]}
    assert curves_from_metadata(KerasModelMetadata.model_validate(metadata(graphs=False))) == {}


def test_eon_budgets_and_custom_metrics_are_device_metrics() -> None:
    """The EON compiler's RAM/ROM (``eon``, and ``eon_ram_optimized``: snake_case on the wire) and numeric
    ``customMetrics`` become flat metrics that objectives and constraints may name."""
    from sweep.studio.metrics import is_device_metric, is_metric

    md = metadata()
    perf = md["modelValidationMetrics"][1]["onDevicePerformance"][0]
    perf["eon_ram_optimized"] = {"ramRequired": 700, "romRequired": 9000, "arenaSize": 600, "modelSize": 5000}
    perf["customMetrics"] = [{"name": "energy uJ", "value": "12.5"}, {"name": "note", "value": "n/a"}]
    OfficialMetadata.from_dict(md)  # the official model reads the same body
    flat = flatten_metadata(KerasModelMetadata.model_validate(md))
    device = perf["mcu"]
    assert flat[f"int8.{device}.eon.ram_bytes"] == perf["eon"]["ramRequired"]
    assert flat[f"int8.{device}.eon_ram_optimized.ram_bytes"] == 700
    assert flat[f"{device}.eon_ram_optimized.rom_bytes"] == 9000  # the selected type's shorthand
    assert flat[f"int8.{device}.custom.energy_uJ"] == 12.5 and f"int8.{device}.custom.note" not in flat
    for name in (f"{device}.eon.ram_bytes", f"int8.{device}.eon_ram_optimized.rom_bytes", f"{device}.custom.energy_uJ"):
        assert is_metric(name) and is_device_metric(name)
    assert not is_metric(f"{device}.eon.latency_ms") and not is_device_metric("int8.accuracy")
