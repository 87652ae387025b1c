"""Log axes of the report's figures: when one is drawn, and ticks that label the range where the data lies.

A log axis is labelled at 1, 2 and 5 of each decade (1 of each beyond ``WIDE_DECADES``), written as plain
numbers (``0.5``, not 5x10^-1); an end of the data with no label within ``NEAR`` times of it gets the tick
of 1, 1.5, 2, 3, ... 9 per decade nearest to it, so a front at 0.27-0.29 ms is read at a ``0.3``, not guessed
below a ``0.5``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

__all__ = ["NEAR", "WIDE_DECADES", "log_axis", "log_scale", "log_ticks"]

NEAR = 1.5  # an end of the data has a labelled tick within this factor of it
WIDE_DECADES = 4.0  # above this span the labels are the powers of 10 only
_MARGIN = 0.05  # matplotlib's default axes margin, a share of the (log) span


def log_scale(values: pd.Series) -> bool:
    """A log axis when the values drawn (NaN is not) are all positive and span more than 10x: a log axis would
    hide a value at or below 0."""
    drawn = values.dropna()
    return bool(len(drawn)) and bool((drawn > 0).all()) and float(drawn.max()) > 10 * float(drawn.min())


def _grid(low: float, high: float, subs: tuple[float, ...]) -> np.ndarray:
    decades = np.arange(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1)
    values = np.array([float(f"{s:g}e{d}") for d in decades for s in subs])  # 0.3, not 0.30000000000000004
    return values[(values >= low * (1 - 1e-9)) & (values <= high * (1 + 1e-9))]


def log_ticks(low: float, high: float) -> list[float]:
    """The labelled ticks of a log axis drawing values from ``low`` to ``high`` (both > 0), within the view
    matplotlib gives them (a 5 % margin of the log span each side)."""
    margin = 10 ** (_MARGIN * math.log10(high / low))
    view_low, view_high = low / margin, high * margin
    subs = (1.0,) if math.log10(high / low) > WIDE_DECADES else (1.0, 2.0, 5.0)
    ticks = set(_grid(view_low, view_high, subs).tolist())
    fine = _grid(view_low, view_high, (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0))  # none > 1.5x apart
    for end in (low, high):
        if not any(max(t / end, end / t) <= NEAR for t in ticks) and len(fine):
            ticks.add(float(fine[np.argmin(np.abs(np.log10(fine / end)))]))
    return sorted(ticks)


def log_axis(ax: Axes, which: str, values: pd.Series) -> None:
    """Draw ``ax``'s x or y axis in log scale with ``log_ticks`` over the positive ``values`` it shows."""
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    drawn = values.dropna().astype(float)
    axis.set_major_locator(FixedLocator(log_ticks(float(drawn.min()), float(drawn.max()))))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(LogLocator(subs="auto"))
    axis.set_minor_formatter(NullFormatter())
