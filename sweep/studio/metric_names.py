"""The grammar of flat metric names, in one place: the parts flattening writes keys from, and the parser that
reads a name a study file uses back into those parts (what model type, device, class it names).

    {mt}.accuracy  {mt}.loss  {mt}.{f1|precision|recall}.{class|macro_avg|weighted_avg}
    [{mt}.]{device}.{latency_ms|ram_bytes|rom_bytes|model_bytes|arena_bytes}
    [{mt}.]{device}.eon.<budget>  [{mt}.]{device}.eon_ram_optimized.<budget>  [{mt}.]{device}.custom.{name}
    {device}.dsp.{latency_ms|ram_bytes}  {device}.total_{latency_ms|ram_bytes|rom_bytes}
    int8.accuracy_drop  compute_time_s  wall_time_s

``{mt}`` is a model type, ``{device}`` a device's ``mcu`` (or ``default``, the device Studio marks as default),
``{class}`` a class name; each written as :func:`segment` writes it (no spaces or dots).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "AVERAGES",
    "BUDGET_FIELDS",
    "CLASS_FIELDS",
    "DEFAULT",
    "DEVICE_FIELDS",
    "DSP_FIELDS",
    "MODEL_TYPES",
    "RUN_METRICS",
    "TOTAL_FIELDS",
    "MetricName",
    "is_device_metric",
    "is_metric",
    "parse",
    "segment",
]

MODEL_TYPES = ("float32", "int8", "akida")
DEVICE_FIELDS = ("latency_ms", "ram_bytes", "rom_bytes", "model_bytes", "arena_bytes")
BUDGET_FIELDS = ("ram_bytes", "rom_bytes", "model_bytes", "arena_bytes")
CLASS_FIELDS = {"f1-score": "f1", "precision": "precision", "recall": "recall"}  # report field -> name part
AVERAGES = {"macro avg": "macro_avg", "weighted avg": "weighted_avg"}
DSP_FIELDS = ("latency_ms", "ram_bytes")
TOTAL_FIELDS = ("latency_ms", "ram_bytes", "rom_bytes")
RUN_METRICS = ("compute_time_s", "wall_time_s")
DEFAULT = "default"  # the device segment that repeats the device Studio marks as default


def segment(text: str) -> str:
    """A device or class name as it appears inside a metric name (spaces and dots would be ambiguous)."""
    return re.sub(r"[\s.]+", "_", str(text).strip())


def _any(words: tuple[str, ...] | list[str]) -> str:
    return "(?:" + "|".join(re.escape(w) for w in words) + ")"


_SEG = r"[^\s.]+"
_MT = _any(MODEL_TYPES)
_BUDGET = _any(BUDGET_FIELDS)
# What follows the device in a device metric: a TFLite figure, an EON compiler budget, a custom metric.
_DEVICE_TAIL = rf"(?:{_any(DEVICE_FIELDS)}|eon\.{_BUDGET}|eon_ram_optimized\.{_BUDGET}|custom\.{_SEG})"
_IMPULSE_TAIL = rf"(?:dsp\.{_any(DSP_FIELDS)}|total_{_any(TOTAL_FIELDS)})"
_FORMS = [
    re.compile(rf"^(?:{_any(RUN_METRICS)}|int8\.accuracy_drop)$"),
    re.compile(rf"^(?P<mt>{_MT})\.(?:accuracy|loss)$"),
    re.compile(rf"^(?P<mt>{_MT})\.{_any(list(CLASS_FIELDS.values()))}\.(?P<cls>{_SEG})$"),
    re.compile(rf"^(?:(?P<mt>{_MT})\.)?(?P<device>{_SEG})\.{_DEVICE_TAIL}$"),
    re.compile(rf"^(?P<device>{_SEG})\.(?P<impulse>{_IMPULSE_TAIL})$"),
]


@dataclass(frozen=True)
class MetricName:
    """A metric name read into its parts (each None when the name has none)."""

    text: str
    model_type: str | None = None  # float32, int8, akida; None: the selected model type, or not a model figure
    device: str | None = None  # a device's segment, or ``default``
    class_name: str | None = None  # a class's segment, or ``macro_avg`` / ``weighted_avg``
    impulse: bool = False  # a DSP cost (``dsp.*``) or DSP + network (``total_*``): measured on the impulse

    @property
    def is_average(self) -> bool:
        return self.class_name in AVERAGES.values()


def parse(name: str) -> MetricName | None:
    """``name`` read into its parts, or None when it does not follow the grammar."""
    for form in _FORMS:
        m = form.match(name)
        if m is not None:
            parts = m.groupdict()
            return MetricName(name, parts.get("mt"), parts.get("device"), parts.get("cls"),
                              parts.get("impulse") is not None)
    return None


def is_metric(name: str) -> bool:
    """Whether ``name`` follows the grammar."""
    return parse(name) is not None


def is_device_metric(name: str) -> bool:
    """Whether ``name`` is an on-device figure (it needs profiling to have finished)."""
    parts = name.split(".")
    return (parts[-1] in DEVICE_FIELDS or parts[-1].startswith("total_")
            or (len(parts) >= 3 and parts[-2] == "custom"))
