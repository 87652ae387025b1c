"""How sweep writes quantities for people: one way to show a duration, an accuracy, a size, everywhere.

The study stores metrics as Edge Impulse reports them: accuracy, F1, precision and recall as fractions
(0-1), sizes in bytes, latency in ms, times in s. People read them as ``98.61 %`` (a difference of two
accuracies, ``int8.accuracy_drop``, in percentage points: ``0.28 pp``), ``5.9 KiB``, ``2.718 ms`` and
``21.4 s``; every report plot, table and text, and every line a command prints (the run's lines and live
line, ``status``, ``best``, ``confirm``, ``dashboard``) goes through :func:`unit_of`. Study files, the study's
storage, ``trials.csv``, ``--json`` and the run's events keep the stored values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Unit", "axis_label", "duration", "metric_text", "metrics_text", "unit_of"]

_SHARE = re.compile(r"(^|[._])accuracy$|(^|\.)(f1|precision|recall)(\.|$)")


def duration(seconds: float) -> str:
    """``42.0 s`` below 90 s, ``12.5 min`` below 2 h, else ``3.1 h``."""
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class Unit:
    """How one metric is shown: ``stored * scale``, written with ``spec`` and ``symbol``."""

    symbol: str
    scale: float = 1.0
    spec: str = ".4g"

    def shown(self, value: float) -> float:
        return float(value) * self.scale

    def text(self, value: float) -> str:
        if self.symbol == "s":
            return duration(value)
        number = format(self.shown(value), self.spec)
        if "." in number and "e" not in number:
            whole, decimals = number.split(".")
            number = whole if set(decimals) == {"0"} else number
        number = "0" if number == "-0" else number
        return f"{number} {self.symbol}" if self.symbol else number


PERCENT = Unit("%", 100.0, ".2f")
POINTS = Unit("pp", 100.0, ".2f")
KIB = Unit("KiB", 1 / 1024, ".1f")
MS = Unit("ms", 1.0, ".4g")
SECONDS = Unit("s", 1.0, ".1f")
PLAIN = Unit("")


def unit_of(key: str) -> Unit:
    """The unit a metric (or objective) key is shown in: accuracy-like in %, ``accuracy_drop`` in
    percentage points, ``*_bytes`` in KiB, ``*_ms`` in ms, ``*_s`` as a duration, anything else as it is."""
    if key.endswith("accuracy_drop"):
        return POINTS
    if _SHARE.search(key):
        return PERCENT
    if key.endswith("_bytes"):
        return KIB
    if key.endswith("_ms"):
        return MS
    if key.endswith("_s"):
        return SECONDS
    return PLAIN


def metric_text(key: str, value: float) -> str:
    """``int8.accuracy`` 0.9861 -> ``98.61 %``; ``ram_bytes`` 6042 -> ``5.9 KiB``; ``latency_ms`` -> ``2.718 ms``."""
    return unit_of(key).text(value)


def metrics_text(pairs: Iterable[tuple[str, float]]) -> str:
    """Metrics named, each in its unit: ``int8.accuracy 96.11 %, cortex-m4f-80mhz.latency_ms 0.294 ms``."""
    return ", ".join(f"{key} {metric_text(key, value)}" for key, value in pairs)


def axis_label(key: str, name: str | None = None) -> str:
    """An axis title: ``int8.accuracy (%)``, ``RAM (KiB)``; ``name`` replaces the key."""
    symbol = unit_of(key).symbol
    return f"{name or key} ({symbol})" if symbol else (name or key)
