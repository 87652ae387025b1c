"""What a reader sees in the report's figures and tables, checked on the drawn artists: legends off the data, log
axes labelled where the data lies, whole histogram bins without error-bar caps, trial numbers that do not collide."""

from __future__ import annotations

import itertools

import numpy as np
import optuna
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox
from test_report_frame import DEVICE, build_study
from test_report_plots import _every_figure

from sweep.report import frame as fr
from sweep.report import fronts, plots

FRONT_MS = (0.27, 0.29)  # where the digits study's front lay, under a log axis labelled from 0.5 ms only


def _boxes(fig: Figure) -> dict[str, Bbox]:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    return {f"{i}:{ax.get_label()}": ax.get_window_extent(renderer) for i, ax in enumerate(fig.axes) if ax.has_data()}


def test_no_legend_sits_on_the_data() -> None:
    """Every legend of every figure lies outside every panel that draws data (it can hide no point)."""
    figures = _every_figure(build_study(30), build_study(30, multi=True))
    for name, fig in figures.items():
        panels = _boxes(fig)
        legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
        for legend, (label, box) in itertools.product(legends, panels.items()):
            assert not legend.get_window_extent().overlaps(box), (name, label, [t.get_text() for t in legend.texts])


def _labelled(ax: Axes, which: str) -> list[float]:
    """The values at which the axis writes a label, within its view."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    low, high = sorted(ax.get_xlim() if which == "x" else ax.get_ylim())
    ticks = axis.get_major_ticks()
    return [float(v) for v, t in zip(axis.get_majorticklocs(), ticks, strict=True)
            if t.label1.get_text() and low <= v <= high]


def _assert_labels_the_span(ax: Axes, which: str, values: np.ndarray) -> None:
    assert (ax.get_xscale() if which == "x" else ax.get_yscale()) == "log"
    ax.figure.canvas.draw()
    labelled = _labelled(ax, which)
    low, high = float(values.min()), float(values.max())
    inside = [v for v in labelled if low <= v <= high]
    assert len(inside) >= 3, (labelled, low, high)
    for end in (low, high):  # nothing of the data lies far from a label: the front at 0.27 ms is read at a 0.3
        assert min(max(v / end, end / v) for v in labelled) <= 1.5, (labelled, end)


def _front_at_a_third_of_a_ms(multi: optuna.Study) -> pd.DataFrame:
    dev = fronts.device_frame(fr.trials_frame(multi), DEVICE, fronts.study_front(multi))
    rest = np.linspace(0.31, 9.1, len(dev))
    return dev.assign(latency_ms=np.where(dev["front"], np.linspace(*FRONT_MS, len(dev)), rest))


def test_log_axes_label_the_range_where_the_data_lies() -> None:
    multi = build_study(30, multi=True)
    dev = _front_at_a_third_of_a_ms(multi)
    _assert_labels_the_span(plots.device_figure(dev, DEVICE, "front").axes[0], "x", dev["latency_ms"].to_numpy())
    o = fr.objectives_of(multi)
    latency = f"{DEVICE}.latency_ms"
    objective = fronts.objective_frame(fr.trials_frame(multi), o, fronts.study_front(multi))
    objective[latency] = np.where(objective["front"], np.linspace(*FRONT_MS, len(objective)),
                                  np.linspace(0.31, 9.1, len(objective)))
    _assert_labels_the_span(plots.pareto_figure(objective, o).axes[0], "y", objective[latency].to_numpy())
    frames = {n: fr.best_so_far(fr.trials_frame(multi), n, d) for n, d in zip(o.names, o.directions, strict=True)}
    values = np.linspace(9.1, FRONT_MS[0], len(frames[latency]))
    frames[latency] = frames[latency].assign(value=values, best=np.minimum.accumulate(values))
    history = plots.history_figure(frames, o)
    _assert_labels_the_span(history.axes[o.names.index(latency)], "y", values)


@pytest.mark.parametrize("low", [0.011, 0.1, 0.12, 0.27, 0.33, 0.45, 0.64, 0.95, 1.3, 2.2, 3.4, 7.7])
@pytest.mark.parametrize("factor", [10.5, 14, 33, 120, 900, 5e4])
def test_log_ticks_label_each_end_of_any_span(low: float, factor: float) -> None:
    from sweep.report.scales import NEAR, log_ticks

    high = low * factor
    ticks = log_ticks(low, high)
    margin = 10 ** (0.05 * np.log10(factor))
    assert all(low / margin <= t <= high * margin for t in ticks)  # within the view matplotlib gives the data
    assert sum(low <= t <= high for t in ticks) >= 3
    for end in (low, high):
        assert min(max(t / end, end / t) for t in ticks) <= NEAR
    assert len(ticks) <= 12  # no crowd of labels


def _dot_drops() -> pd.DataFrame:
    """The digits study's drops: one validation sample of 360 is 0.28 pp; most trials lose nothing."""
    step = 1 / 360
    drops = [0, step, 0, step, 0, 0, 0, 0, step, -step, -step, 3 * step]
    return pd.DataFrame({"number": range(len(drops)), "drop": drops})


def test_accuracy_drop_histogram_bins_whole_edged_and_no_caps() -> None:
    drop = _dot_drops()
    points = drop["drop"] * 100
    fig = plots.accuracy_drop_figure(drop)
    per_trial, hist = fig.axes
    bins = [p for p in hist.patches if p.get_width() > 0]
    assert sum(p.get_width() for p in bins) == len(drop)
    assert min(p.get_y() for p in bins) < points.min() and max(p.get_y() + p.get_height() for p in bins) > points.max()
    width = bins[0].get_height()
    low, high = hist.get_ylim()
    edges = min(p.get_y() for p in hist.patches), max(p.get_y() + p.get_height() for p in hist.patches)
    assert low <= edges[0] - width / 4 and high >= edges[1] + width / 4  # the outermost bins clear of the frame
    for p in bins:  # two neighbouring bins read as two, not one wide bar
        assert p.get_linewidth() > 0 and to_rgba(p.get_edgecolor()) != to_rgba(p.get_facecolor())
    assert all(float(t).is_integer() for t in hist.get_xticks())  # counts of trials
    caps = [line for line in per_trial.get_lines() if line.get_marker() not in (None, "None", "", " ")]
    assert caps == []  # a mark on top of each bar reads as an error bar
    dots = np.concatenate([c.get_offsets() for c in per_trial.collections if isinstance(c, PathCollection)])
    assert sorted(dots[:, 0]) == list(drop.loc[drop["drop"] == 0, "number"]) and (dots[:, 1] == 0).all()


def _crowded() -> pd.DataFrame:
    """Trials as the keywords study drew them, and more: close pairs, a cluster, twins on one spot."""
    rows = [(0, 70.0, 6.64, True), (1, 65.0, 26.2, False), (2, 70.0, 20.03, False), (3, 84.17, 19.75, False),
            (4, 69.17, 8.98, False), (5, 65.0, 19.75, False), (6, 86.67, 13.72, True), (7, 64.17, 11.64, False),
            (8, 64.17, 19.70, False), (9, 84.17, 21.14, False), (10, 64.17, 19.70, False), (11, 65.0, 19.9, False),
            (12, 64.6, 19.8, False), (13, 70.0, 6.70, False), (14, 86.67, 13.80, False)]
    dev = pd.DataFrame([{"number": n, "feasible": True, "accuracy": a / 100, "latency_ms": ms,
                         "ram_bytes": 10_000 + 500 * n, "rom_bytes": 60_000.0, "front": f} for n, a, ms, f in rows])
    dev.attrs["accuracy_key"] = "int8.accuracy"
    return dev


def test_device_numbers_do_not_collide() -> None:
    dev = _crowded()
    fig = plots.device_figure(dev, DEVICE, "front")
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for ax in fig.axes:
        boxes = [t.get_window_extent(renderer) for t in ax.texts]
        assert boxes
        for a, b in itertools.combinations(boxes, 2):
            assert not a.overlaps(b), [t.get_text() for t in ax.texts]
        frame = ax.get_window_extent(renderer)
        assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes)
        named = {int(n) for t in ax.texts for n in t.get_text().split(", ")}
        assert {0, 6} <= named  # the front always carries its numbers
    latency = [t.get_text() for t in fig.axes[0].texts]
    assert "8, 10" in latency  # twins on one spot share one label
