"""Trial numbers beside the points of a figure, placed so that no two labels overlap and none covers a point.

Placed once the figure is laid out (positions on the page are known only then), the layout is then frozen so
that saving it moves nothing. The labels that must show (the study's front) are placed first; a label with no
free place around its point is left out, and points drawn on one spot (twins) share one label: ``5, 8``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

__all__ = ["LABEL_GAP_PT", "Labels", "place_labels"]

FONT_SIZE = 7
_SAME_SPOT_PX = 3.0  # points closer than this (display pixels) are one spot, with one label
_POINT_PX = 3.5  # a label keeps this far from the centre of any point it does not name
# two labels keep at least this gap (points): "21" flush against "4, 17" reads as trial 214
LABEL_GAP_PT = 3.0
_Place = tuple[tuple[int, int], Literal["left", "center", "right"], Literal["bottom", "center", "top"]]
# (dx, dy) offsets in points and the text's alignment: beside the point, the upper right first
_PLACES: list[_Place] = [
    ((4, 3), "left", "bottom"), ((-4, 3), "right", "bottom"), ((4, -3), "left", "top"), ((-4, -3), "right", "top"),
    ((6, 0), "left", "center"), ((-6, 0), "right", "center"), ((0, 6), "center", "bottom"), ((0, -6), "center", "top"),
    ((9, 8), "left", "bottom"), ((-9, 8), "right", "bottom"), ((9, -8), "left", "top"), ((-9, -8), "right", "top")]


@dataclass(frozen=True)
class Labels:
    """What one panel labels: the trial numbers and the points (data units) they sit beside; ``must`` are
    placed first (the study's front), the others where they fit."""

    ax: Axes
    numbers: pd.Series
    x: pd.Series
    y: pd.Series
    must: pd.Series


def _spots(labels: Labels) -> list[tuple[tuple[float, float], np.ndarray, str, bool]]:
    """(point, its display position, text, must) per spot, the ones that must show first, each in trial order."""
    xy = np.column_stack([labels.x, labels.y]).astype(float)
    ok = np.isfinite(xy).all(axis=1)
    xy, numbers, must = xy[ok], labels.numbers.to_numpy()[ok].astype(int), labels.must.to_numpy()[ok].astype(bool)
    shown = labels.ax.transData.transform(xy) if len(xy) else xy
    spots: list[tuple[int, list[int]]] = []
    for i in np.lexsort((numbers, ~must)):
        near = next((s for s in spots if np.hypot(*(shown[s[0]] - shown[i])) < _SAME_SPOT_PX), None)
        if near is None:
            spots.append((int(i), [int(numbers[i])]))
        else:
            near[1].append(int(numbers[i]))
    return [((xy[i, 0], xy[i, 1]), shown[i], ", ".join(map(str, sorted(ns))), bool(must[i])) for i, ns in spots]


def _covers(box: Bbox, points: np.ndarray, own: np.ndarray) -> bool:
    """Whether ``box`` covers a point (display units) other than the one at ``own``."""
    others = points[np.hypot(*(points - own).T) >= _SAME_SPOT_PX] if len(points) else points
    grown = box.padded(_POINT_PX)
    inside = (others[:, 0] >= grown.x0) & (others[:, 0] <= grown.x1) & (others[:, 1] >= grown.y0) & (
        others[:, 1] <= grown.y1)
    return bool(inside.any())


def _free(box: Bbox, frame: Bbox, taken: list[Bbox], points: np.ndarray, own: np.ndarray, gap: float) -> bool:
    """Inside the axes, ``gap`` (display units) clear of every label placed, covering no other point."""
    inside = frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
    return inside and not any(box.padded(gap).overlaps(t) for t in taken) and not _covers(box, points, own)


def _places(own: np.ndarray, width: float, height: float, scale: float) -> list[Bbox]:
    """Where the label's box would be at each of ``_PLACES`` (display units; ``scale``: pixels a point)."""
    boxes = []
    for (dx, dy), ha, va in _PLACES:
        x, y = own[0] + dx * scale, own[1] + dy * scale
        x0 = x if ha == "left" else x - width if ha == "right" else x - width / 2
        y0 = y if va == "bottom" else y - height if va == "top" else y - height / 2
        boxes.append(Bbox.from_bounds(x0, y0, width, height))
    return boxes


def place_labels(fig: Figure, panels: list[Labels]) -> None:
    """Write each panel's trial numbers beside its points, none overlapping another label, a point or leaving
    its axes; a label that must show and finds no free place is written at the first place all the same."""
    fig.draw_without_rendering()  # lay the figure out: where each point lands is known from here on
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for panel in panels:
        frame = panel.ax.get_window_extent(renderer)
        drawn = np.column_stack([panel.x, panel.y]).astype(float)
        points = panel.ax.transData.transform(drawn[np.isfinite(drawn).all(axis=1)])
        taken: list[Bbox] = []
        for xy, own, text, must in _spots(panel):
            (offset, ha, va), *_ = _PLACES
            label = panel.ax.annotate(text, xy, xytext=offset, textcoords="offset points", ha=ha, va=va,
                                      fontsize=FONT_SIZE, alpha=0.85)
            size = label.get_window_extent(renderer)
            boxes = _places(own, size.width, size.height, fig.dpi / 72)
            gap = LABEL_GAP_PT * fig.dpi / 72
            chosen = next((i for i, box in enumerate(boxes) if _free(box, frame, taken, points, own, gap)),
                          0 if must else None)
            if chosen is None:
                label.remove()
                continue
            label.xyann, (_, ha, va) = _PLACES[chosen][0], _PLACES[chosen]
            label.set_horizontalalignment(ha)
            label.set_verticalalignment(va)
            taken.append(label.get_window_extent(renderer))
    fig.set_layout_engine("none")  # keep the places: a new layout would move the axes under the labels
