"""Report figures: frames -> matplotlib ``Figure`` objects, in one style (``style``), each value in its unit
(``sweep.units``: accuracy in %, its drop in percentage points, sizes in KiB, latency in ms).

Drawn here rather than by ``optuna.visualization.matplotlib``: Optuna's plots set the ggplot style, show
stored fractions and raw param names, and mark fronts of their own; these draw the frames the report
computed (``frame``, ``fronts``), so a test can check the data behind each one.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sweep.report.frame import COST_FIELDS, Objectives
from sweep.report.labels import Labels, place_labels
from sweep.report.scales import log_axis, log_scale
from sweep.report.style import FEASIBLE, FRONT, INFEASIBLE, LIMIT, PALETTE, figure, legend_below, legend_beside, styled
from sweep.units import axis_label, unit_of

__all__ = [
    "LABEL_ALL_UP_TO",
    "accuracy_drop_figure",
    "centred_bins",
    "compare_history_figure",
    "confusion_figure",
    "curves_figure",
    "device_figure",
    "ecdf_figure",
    "history_figure",
    "hypervolume_figure",
    "importance_figure",
    "pareto_figure",
]

LABEL_ALL_UP_TO = 50  # points per panel written with their trial number; above it, only the study's best
_COST_NAMES = {"latency_ms": "latency", "ram_bytes": "RAM", "rom_bytes": "ROM"}


def _trials(ax: Axes, x: pd.Series, y: pd.Series, feasible: pd.Series, size: float = 16) -> None:
    ok = feasible.astype(bool)
    ax.scatter(x[ok], y[ok], s=size, color=FEASIBLE, alpha=0.75, label="feasible trial")
    if (~ok).any():
        ax.scatter(x[~ok], y[~ok], s=size, color=INFEASIBLE, alpha=0.9, label="infeasible trial")


@styled
def history_figure(frames: dict[str, pd.DataFrame], objectives: Objectives) -> Figure:
    """One panel per objective: values of complete trials and the running best of the feasible ones
    (``best_so_far`` frames); a log value axis when the values span more than 10x (as the device plot's)."""
    fig = figure(9, 0.6 + 2.9 * len(frames))
    axes = fig.subplots(len(frames), 1, squeeze=False, sharex=True)[:, 0]
    for ax, name, direction in zip(axes, objectives.names, objectives.directions, strict=False):
        data, scale = frames[name], unit_of(name).scale
        _trials(ax, data["number"], data["value"] * scale, data["feasible"])
        ax.step(data["number"], data["best"] * scale, where="post", color=FRONT, label="best so far (feasible)")
        if log_scale(data["value"]):
            log_axis(ax, "y", data["value"] * scale)
        ax.set_title(f"{name} ({direction})")
        ax.set_ylabel(axis_label(name))
    axes[-1].set_xlabel("trial number")
    legend_beside(fig)
    return fig


@styled
def importance_figure(importances: pd.DataFrame, warning: str | None = None) -> Figure:
    """Bars of importance per parameter, one per objective (``frame.importances``); ``warning`` is written
    above the bars, which are drawn pale, when the numbers are not to be trusted."""
    table = importances.pivot(index="param", columns="objective", values="importance").fillna(0.0)
    table = table.loc[table.max(axis=1).sort_values().index]
    fig = figure(9, 1.6 + 0.45 * len(table) * max(len(table.columns), 1) ** 0.5)
    ax = fig.subplots()
    height = 0.8 / max(len(table.columns), 1)
    y = np.arange(len(table))
    for i, objective in enumerate(table.columns):
        bars = ax.barh(y + i * height, table[objective], height=height, label=objective,
                       alpha=0.45 if warning else 1.0)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    ax.set_yticks(y + height * (len(table.columns) - 1) / 2, table.index)
    ax.set_xlabel("importance (share of the total, per objective)")
    ax.grid(False, axis="y")
    if len(table.columns) > 1:
        handles, labels = ax.get_legend_handles_labels()  # listed top down, as the bars of each param
        fig.legend(handles[::-1], labels[::-1], loc="outside lower center", ncols=len(labels))
    fig.suptitle("Hyperparameter importance" + (f" for {table.columns[0]}" if len(table.columns) == 1 else
                                                " per objective"))
    if warning:
        ax.set_title(warning, color=FRONT, loc="left", fontsize=9)
    return fig


def _limit(ax: Axes, which: str, bound: float, values: pd.Series) -> pd.Series:
    """A constraint's limit as a dashed line, when it falls within (or near) the values drawn; returns the
    values the axis shows, the limit among them when drawn."""
    low, high = float(values.min()), float(values.max())
    margin = 0.25 * (high - low or abs(high) or 1.0)
    if not low - margin <= bound <= high + margin:
        return values
    (ax.axvline if which == "x" else ax.axhline)(bound, color=LIMIT, ls="--", lw=1, label="constraint limit")
    return pd.concat([values, pd.Series([bound])], ignore_index=True)


@styled
def device_figure(data: pd.DataFrame, device: str, front_label: str,
                  limits: dict[str, float] | None = None) -> Figure:
    """Accuracy vs latency, RAM and ROM on ``device`` (``fronts.device_frame``): the study's best trials
    circled (``front_label``) in every panel, points numbered by trial where the number fits (the circled ones
    always; above ``LABEL_ALL_UP_TO`` trials only those), a log cost axis over a 10x span, and the limit of a
    constraint on a drawn metric (``limits``: metric key -> bound, stored units)."""
    limits = limits or {}
    fields = [f for f in COST_FIELDS if data[f].notna().any()]
    fig = figure(4.3 * max(len(fields), 1), 4.4)
    axes = fig.subplots(1, max(len(fields), 1), squeeze=False)[0]
    acc = str(data.attrs.get("accuracy_key", "int8.accuracy"))
    total = bool(data.attrs.get("total"))
    y = data["accuracy"] * unit_of(acc).scale
    label_all = len(data) <= LABEL_ALL_UP_TO
    numbers = []
    for ax, f in zip(axes, fields, strict=False):
        key = f"{device}.total_{f}" if total else f"{device}.{f}"
        x = data[f] * unit_of(key).scale
        _trials(ax, x, y, data["feasible"], size=18)
        best = data["front"].astype(bool)
        ax.scatter(x[best], y[best], s=70, facecolors="none", edgecolors=FRONT, linewidths=1.4, label=front_label)
        shown = data.index if label_all else data.index[best]
        numbers.append(Labels(ax, data.loc[shown, "number"], x[shown], y[shown], best[shown]))
        drawn = _limit(ax, "x", limits[key] * unit_of(key).scale, x) if key in limits else x
        if acc in limits:
            _limit(ax, "y", limits[acc] * unit_of(acc).scale, y)
        if log_scale(x):
            log_axis(ax, "x", drawn)
        # total ROM is the network's: Studio reports no ROM for DSP blocks (docs/study-file.md)
        what = (f"{_COST_NAMES[f]} (network only)" if f == "rom_bytes" else
                f"{_COST_NAMES[f]} (DSP + network)") if total else _COST_NAMES[f]
        ax.set_xlabel(axis_label(key, f"{what} on {device}"))
        ax.set_ylabel(axis_label(acc))
        ax.set_title(f"{acc} vs {what}")
    legend_below(fig)
    fig.suptitle(f"Accuracy vs cost on {device}")
    place_labels(fig, numbers)
    return fig


def _pairs(n: int) -> list[tuple[int, int]]:
    return [(0, 1)] if n == 2 else [(0, 1), (0, 2), (1, 2)]


@styled
def pareto_figure(frame: pd.DataFrame, objectives: Objectives) -> Figure:
    """The objectives of every complete trial (``fronts.objective_frame``) with the study's Pareto front in
    red, numbered by trial; 3 objectives are drawn as their 3 pairs."""
    pairs = _pairs(len(objectives.names))
    fig = figure(6.5 if len(pairs) == 1 else 13.5, 4.8)
    axes = fig.subplots(1, len(pairs), squeeze=False)[0]
    numbers = []
    for ax, (i, j) in zip(axes, pairs, strict=True):
        xname, yname = objectives.names[i], objectives.names[j]
        x, y = frame[xname] * unit_of(xname).scale, frame[yname] * unit_of(yname).scale
        rest = ~frame["front"]
        _trials(ax, x[rest], y[rest], frame["feasible"][rest])
        best = frame["front"]
        ax.scatter(x[best], y[best], s=30, color=FRONT, label="the study's Pareto front", zorder=3)
        numbers.append(Labels(ax, frame["number"][best], x[best], y[best], best[best]))
        if log_scale(x):
            log_axis(ax, "x", x)
        if log_scale(y):
            log_axis(ax, "y", y)
        ax.set_xlabel(axis_label(xname) + f", {objectives.directions[i]}")
        ax.set_ylabel(axis_label(yname) + f", {objectives.directions[j]}")
    legend_below(fig)
    fig.suptitle("Pareto front of the objectives (the front counts feasible trials only)")
    place_labels(fig, numbers)
    return fig


def hypervolume_unit(objectives: Objectives) -> tuple[float, str]:
    """The factor from stored to shown hypervolume and its unit (the product of the objectives' units)."""
    units = [unit_of(n) for n in objectives.names]
    symbols = [u.symbol or "1" for u in units]
    return float(np.prod([u.scale for u in units])), " x ".join(symbols)


@styled
def hypervolume_figure(history: pd.DataFrame, objectives: Objectives) -> Figure:
    """Hypervolume of the feasible front after each complete trial (``fronts.hypervolume_history``)."""
    scale, unit = hypervolume_unit(objectives)
    fig = figure(9, 3.8)
    ax = fig.subplots()
    ax.step(history["number"], history["hypervolume"] * scale, where="post", color=FEASIBLE)
    ax.scatter(history["number"], history["hypervolume"] * scale, s=10, color=FEASIBLE)
    ax.set_xlabel("trial number")
    ax.set_ylabel(f"hypervolume ({unit})")
    fig.suptitle("Hypervolume history")
    return fig


@styled
def curves_figure(curves: pd.DataFrame) -> Figure:
    """Per-epoch validation accuracy and loss of some trials (``curves_frame``), one colour per trial in both
    panels, named in one legend beside them."""
    fig = figure(11, 4.2)
    axes = fig.subplots(1, 2)
    colours = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(sorted(curves["number"].unique()))}
    for ax, series, label in zip(axes, ("val_accuracy", "val_loss"), ("validation accuracy", "validation loss"),
                                 strict=True):
        part = curves[curves["series"] == series]
        for number, g in part.groupby("number", sort=True):
            ax.plot(g["epoch"], g["value"] * unit_of(series).scale, marker="o", ms=3, color=colours[number],
                    label=f"trial {number}")
        ax.set_title(label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no "2.5"
        ax.set_ylabel(axis_label(series, label))
    legend_beside(fig)
    fig.suptitle("Learning curves of the top trials")
    return fig


@styled
def confusion_figure(frames: dict[str, pd.DataFrame], trial_number: int) -> Figure:
    """Confusion matrices (rows true, columns predicted) per model type, counts annotated."""
    n = len(frames)
    size = max(frames[next(iter(frames))].shape[0], 2) if frames else 2
    side = min(max(3.5, 0.45 * size + 2), 9)
    fig = figure(side * n + 0.5, side)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (model_type, m) in zip(axes, frames.items(), strict=False):
        values = m.to_numpy()
        ax.imshow(values, cmap="Blues")
        ax.grid(False)
        ax.set_xticks(range(m.shape[1]), m.columns, rotation=45, ha="right")
        ax.set_yticks(range(m.shape[0]), m.index)
        if m.size <= 400:
            threshold = values.max() / 2 if values.size else 0
            for (i, j), v in np.ndenumerate(values):
                ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=7,
                        color="white" if v > threshold else "black")
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(model_type)
    fig.suptitle(f"Confusion matrices of trial {trial_number}")
    return fig


@styled
def accuracy_drop_figure(drop: pd.DataFrame) -> Figure:
    """float32 - int8 accuracy per trial and its distribution (``accuracy_drop``), in percentage points: a bar
    per trial (a dot on 0 for a trial that lost nothing; no caps, which would read as error bars), and a
    histogram whose bins, each edged, hold every value with room around the outermost."""
    unit = unit_of("int8.accuracy_drop")
    fig = figure(11, 4)
    per_trial, hist = fig.subplots(1, 2, width_ratios=[2, 1])
    points = drop["drop"] * unit.scale
    worse = points > 0
    if len(drop) <= 60:
        per_trial.bar(drop["number"], points, color=np.where(worse, FRONT, FEASIBLE), width=0.8)
        same = points == 0
        per_trial.scatter(drop["number"][same], points[same], s=14, color=FEASIBLE, zorder=3)  # a 0 bar is not seen
        title = "per trial (red: int8 is worse; a dot: no change)"
    else:
        per_trial.scatter(drop["number"], points, s=8, c=np.where(worse, FRONT, FEASIBLE))
        title = "per trial (red: int8 is worse)"
    per_trial.axhline(0, color="black", lw=0.8)
    per_trial.set_xlabel("trial number")
    per_trial.set_ylabel(axis_label("int8.accuracy_drop", "accuracy drop"))
    per_trial.set_title(title)
    edges = centred_bins(points, min(30, max(5, len(points) // 3)))
    hist.hist(points, bins=edges, color=FEASIBLE, orientation="horizontal", edgecolor="white", linewidth=0.8)
    hist.axhline(0, color="black", lw=0.8)
    hist.set_xlabel("trials")
    hist.xaxis.set_major_locator(MaxNLocator(integer=True))  # counts are whole
    hist.set_title("distribution")
    hist.sharey(per_trial)
    room = float(edges[1] - edges[0]) / 2  # the outermost bins whole, clear of the frame
    per_trial.set_ylim(float(edges[0]) - room, float(edges[-1]) + room)
    fig.suptitle("Quantization: float32 accuracy - int8 accuracy")
    return fig


def centred_bins(values: pd.Series, n: int) -> np.ndarray:
    """Edges of about ``n`` equal bins, 0 the centre of one: trials that lose nothing sit in a bin around 0,
    not in one leaning to a gain or a loss. Values on a common step (an accuracy moves by 1 validation
    sample: 1 of 360 = 0.28 pp) get one bin per step, each centred on its value."""
    low, high = float(min(values.min(), 0.0)), float(max(values.max(), 0.0))
    width = (high - low) / max(n - 1, 1) or 1.0
    step = lattice_step(values)
    if step is not None and (high - low) / step <= 3 * n:
        width = step
    first, last = math.floor(low / width + 0.5), math.ceil(high / width - 0.5)
    edges: np.ndarray = (np.arange(first, last + 2) - 0.5) * width
    return edges


def lattice_step(values: pd.Series) -> float | None:
    """The step every value is a whole multiple of (within rounding), or None when there is none."""
    distinct = np.unique(np.round(values.to_numpy(dtype=float), 9))
    gaps = np.diff(np.unique(np.concatenate([distinct, [0.0]])))
    if not len(gaps):
        return None
    step = float(gaps.min())
    multiples = distinct / step
    return step if np.allclose(multiples, np.round(multiples), atol=1e-3) else None


@styled
def ecdf_figure(frames: dict[str, pd.DataFrame], name: str) -> Figure:
    """Share of each study's complete trials at or below each value of its first objective (``best_so_far``
    frames keyed by study)."""
    scale = unit_of(name).scale
    fig = figure(9, 4.5)
    ax = fig.subplots()
    for study_name, data in frames.items():
        values = np.sort(data["value"].to_numpy(dtype=float)) * scale
        if len(values):
            ax.step(values, np.arange(1, len(values) + 1) / len(values), where="post", label=study_name)
    ax.set_xlabel(axis_label(name))
    ax.set_ylabel("share of complete trials <= value")
    ax.set_ylim(0, 1.02)
    legend_beside(fig)
    fig.suptitle(f"Empirical distribution of {name}")
    return fig


@styled
def compare_history_figure(frames: dict[str, pd.DataFrame], name: str, direction: str) -> Figure:
    """Best-so-far of several studies on one axis (``best_so_far`` frames keyed by study name)."""
    scale = unit_of(name).scale
    fig = figure(9, 4.5)
    ax = fig.subplots()
    for study_name, data in frames.items():
        ax.step(data["number"], data["best"] * scale, where="post", label=study_name)
    best = pd.concat([data["best"] for data in frames.values()]) if frames else pd.Series(dtype=float)
    if log_scale(best):
        log_axis(ax, "y", best * scale)
    ax.set_xlabel("trial number")
    ax.set_ylabel(axis_label(name, f"best {name} so far"))
    fig.suptitle(f"Best-so-far {name} ({direction})")
    legend_beside(fig)
    return fig
