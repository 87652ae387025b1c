"""Report figures: frames/studies -> matplotlib ``Figure`` objects (Agg, no pyplot state kept)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, cast

import matplotlib

matplotlib.use("Agg")

import numpy as np
import optuna
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from optuna.importance import BaseImportanceEvaluator
from optuna.trial import FrozenTrial

from sweep.report.frame import COST_FIELDS, Objectives

__all__ = [
    "accuracy_drop_figure",
    "compare_history_figure",
    "confusion_figure",
    "curves_figure",
    "device_figure",
    "ecdf_figure",
    "history_figure",
    "hypervolume_figure",
    "importance_bars_figure",
    "importance_figure",
    "multi_history_figure",
    "parallel_figure",
    "pareto_figure",
]

FEASIBLE = "#1f77b4"
INFEASIBLE = "#bbbbbb"
FRONT = "#d62728"
_COST_LABELS = {"latency_ms": ("latency", "ms", 1.0), "ram_bytes": ("RAM", "KiB", 1024.0),
                "rom_bytes": ("ROM", "KiB", 1024.0)}


def _figure(width: float = 8.0, height: float = 4.5, **kw: Any) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained", **kw)
    FigureCanvasAgg(fig)
    return fig


@contextmanager
def _optuna_plot() -> Iterator[None]:
    """Run an ``optuna.visualization.matplotlib`` call without leaking its style or pyplot figures."""
    with matplotlib.rc_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Attempting to set identical")  # one-valued parameters
        yield


def _detach(ax: Axes | np.ndarray, title: str | None = None, size: tuple[float, float] = (9, 5),
            layout: Literal["constrained"] | None = "constrained") -> Figure:
    from matplotlib import pyplot as plt

    first = ax.flat[0] if isinstance(ax, np.ndarray) else ax
    fig = cast(Figure, first.figure)  # optuna draws on a pyplot figure, never a subfigure
    plt.close(fig)  # keep no pyplot state; the figure itself stays drawable
    FigureCanvasAgg(fig)
    fig.set_size_inches(*size)
    fig.set_layout_engine(layout)
    if title:
        for loc in ("left", "center", "right"):
            first.set_title("", loc=loc)
        fig.suptitle(title)
    return fig


def history_figure(study: optuna.Study, objectives: Objectives) -> Figure:
    """Objective value per trial and best-so-far (Optuna's optimization history)."""
    from optuna.visualization.matplotlib import plot_optimization_history

    with _optuna_plot():
        ax = plot_optimization_history(study, target_name=objectives.names[0])
        fig = _detach(ax, f"Best-so-far: {objectives.names[0]} ({objectives.directions[0]})")
    ax.set_xlabel("trial number")
    ax.set_ylabel(objectives.names[0])
    return fig


def multi_history_figure(frames: dict[str, pd.DataFrame], objectives: Objectives) -> Figure:
    """One panel per objective: values of complete trials and the running best (``best_so_far`` frames)."""
    fig = _figure(9, 3.2 * len(frames))
    axes = fig.subplots(len(frames), 1, squeeze=False)[:, 0]
    for ax, (name, direction) in zip(axes, zip(objectives.names, objectives.directions, strict=False), strict=False):
        data = frames[name]
        ok = data["feasible"].astype(bool)
        ax.scatter(data["number"][ok], data["value"][ok], s=14, color=FEASIBLE, alpha=0.7, label="feasible trial")
        if (~ok).any():
            ax.scatter(data["number"][~ok], data["value"][~ok], s=14, color=INFEASIBLE, label="infeasible trial")
        ax.step(data["number"], data["best"], where="post", color=FRONT, label="best so far")
        ax.set_title(f"{name} ({direction})")
        ax.set_xlabel("trial number")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return fig


def importance_figure(study: optuna.Study, objectives: Objectives,
                      evaluator: BaseImportanceEvaluator | None = None) -> Figure:
    """Hyperparameter importances of a single-objective study (Optuna; PED-ANOVA unless ``evaluator``)."""
    from optuna.visualization.matplotlib import plot_param_importances

    with _optuna_plot():
        ax = plot_param_importances(study, evaluator=evaluator, target_name=objectives.names[0])
        fig = _detach(ax, f"Hyperparameter importance for {objectives.names[0]}")
    ax.set_xlabel("importance (share of total)")
    ax.set_ylabel("")
    return fig


def importance_bars_figure(importances: pd.DataFrame) -> Figure:
    """Grouped bars of importance per parameter and objective (``frame.importances``)."""
    table = importances.pivot(index="param", columns="objective", values="importance").fillna(0.0)
    table = table.loc[table.max(axis=1).sort_values().index]
    fig = _figure(9, 1.2 + 0.6 * len(table) * max(len(table.columns), 1) ** 0.5)
    ax = fig.subplots()
    height = 0.8 / max(len(table.columns), 1)
    y = np.arange(len(table))
    for i, objective in enumerate(table.columns):
        bars = ax.barh(y + i * height, table[objective], height=height, label=objective)
        ax.bar_label(bars, fmt="%.2f", fontsize=8, padding=2)
    ax.set_yticks(y + height * (len(table.columns) - 1) / 2, table.index)
    ax.set_xlabel("importance (share of total, per objective)")
    ax.set_title("Hyperparameter importance per objective")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize="small", loc="lower right")
    return fig


def parallel_figure(study: optuna.Study, objectives: Objectives) -> Figure:
    """Parallel coordinates of the parameters coloured by the first objective (Optuna)."""
    from optuna.visualization.matplotlib import plot_parallel_coordinate

    target: Callable[[FrozenTrial], float] | None = (lambda t: t.values[0]) if objectives.multi else None
    with _optuna_plot():
        ax = plot_parallel_coordinate(study, target=target, target_name=objectives.names[0])
        fig = _detach(ax, f"Parameters vs {objectives.names[0]} (dotted: infeasible)", size=(11, 5.5),
                      layout=None)
    fig.subplots_adjust(left=0.1, right=0.9, top=0.85, bottom=0.18)
    for label in ax.get_xticklabels():
        label.set_rotation(20)
        label.set_horizontalalignment("right")
    return fig


def pareto_figure(study: optuna.Study, objectives: Objectives) -> Figure:
    """The Pareto front of the study's objectives (Optuna; 2 or 3 objectives)."""
    from optuna.visualization.matplotlib import plot_pareto_front

    with _optuna_plot():
        ax = plot_pareto_front(study, target_names=objectives.names)
        fig = _detach(ax, "Pareto front of the objectives")
    return fig


def hypervolume_figure(study: optuna.Study, reference_point: list[float]) -> Figure:
    """Hypervolume of the Pareto front after each trial (Optuna)."""
    from optuna.visualization.matplotlib import plot_hypervolume_history

    with _optuna_plot():
        ax = plot_hypervolume_history(study, reference_point)
        fig = _detach(ax, "Hypervolume history")
    ax.set_xlabel("trial number")
    return fig


def device_figure(data: pd.DataFrame, device: str) -> Figure:
    """Accuracy vs latency, RAM and ROM on ``device`` with the Pareto front marked (``device_frame``)."""
    fields = [f for f in COST_FIELDS if data[f].notna().any()]
    fig = _figure(4.2 * max(len(fields), 1), 4.2)
    axes = fig.subplots(1, max(len(fields), 1), squeeze=False)[0]
    acc_label = data.attrs.get("accuracy_key", "accuracy")
    for ax, f in zip(axes, fields, strict=False):
        name, unit, scale = _COST_LABELS[f]
        x = data[f] / scale
        ok = data["feasible"].astype(bool)
        ax.scatter(x[ok], data["accuracy"][ok], s=18, color=FEASIBLE, alpha=0.7, label="feasible")
        if (~ok).any():
            ax.scatter(x[~ok], data["accuracy"][~ok], s=18, color=INFEASIBLE, alpha=0.9, label="infeasible")
        front = data[data[f"pareto_{f}"]].sort_values(f)
        ax.step(front[f] / scale, front["accuracy"], where="post", color=FRONT, lw=1.5)
        ax.scatter(front[f] / scale, front["accuracy"], s=40, facecolors="none", edgecolors=FRONT,
                   label="Pareto front")
        ax.set_xlabel(f"{name} on {device} ({unit})")
        ax.set_ylabel(acc_label)
        ax.set_title(f"{acc_label} vs {name}")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize="small")
    fig.suptitle(f"Accuracy vs cost on {device}")
    return fig


def curves_figure(curves: pd.DataFrame) -> Figure:
    """Per-epoch validation accuracy and loss of some trials (``curves_frame``)."""
    fig = _figure(11, 4.2)
    axes = fig.subplots(1, 2)
    panels = (("val_accuracy", "validation accuracy"), ("val_loss", "validation loss"))
    for ax, (series, label) in zip(axes, panels, strict=False):
        part = curves[curves["series"] == series]
        for number, g in part.groupby("number", sort=True):
            ax.plot(g["epoch"], g["value"], marker="o", ms=3, label=f"trial {number}")
        ax.set_title(label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if len(part):
            ax.legend(fontsize="small")
    fig.suptitle("Learning curves of the top trials")
    return fig


def confusion_figure(frames: dict[str, pd.DataFrame], trial_number: int) -> Figure:
    """Confusion matrices (rows true, columns predicted) per model type, counts annotated."""
    n = len(frames)
    size = max(frames[next(iter(frames))].shape[0], 2) if frames else 2
    side = min(max(3.5, 0.45 * size + 2), 9)
    fig = _figure(side * n + 0.5, side)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (model_type, m) in zip(axes, frames.items(), strict=False):
        values = m.to_numpy()
        ax.imshow(values, cmap="Blues")
        ax.set_xticks(range(m.shape[1]), m.columns, rotation=45, ha="right")
        ax.set_yticks(range(m.shape[0]), m.index)
        if m.size <= 400:
            threshold = values.max() / 2 if values.size else 0
            for (i, j), v in np.ndenumerate(values):
                ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=8,
                        color="white" if v > threshold else "black")
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(model_type)
    fig.suptitle(f"Confusion matrices of trial {trial_number}")
    return fig


def accuracy_drop_figure(drop: pd.DataFrame) -> Figure:
    """float32 - int8 accuracy per trial and its distribution (``accuracy_drop``), in percentage points."""
    fig = _figure(11, 4)
    per_trial, hist = fig.subplots(1, 2, width_ratios=[2, 1])
    points = drop["drop"] * 100
    worse = points > 0
    if len(drop) <= 60:
        per_trial.bar(drop["number"], points, color=np.where(worse, FRONT, FEASIBLE), width=0.8)
    else:
        per_trial.scatter(drop["number"], points, s=8, c=np.where(worse, FRONT, FEASIBLE))
    per_trial.axhline(0, color="black", lw=0.8)
    per_trial.set_xlabel("trial number")
    per_trial.set_ylabel("accuracy drop (percentage points)")
    per_trial.set_title("per trial (red: int8 is worse)")
    per_trial.grid(alpha=0.3, axis="y")
    hist.hist(points, bins=min(30, max(5, len(points) // 3)), color=FEASIBLE, orientation="horizontal")
    hist.axhline(0, color="black", lw=0.8)
    hist.set_xlabel("trials")
    hist.set_title("distribution")
    hist.sharey(per_trial)
    hist.grid(alpha=0.3, axis="x")
    fig.suptitle("Quantization: float32 accuracy - int8 accuracy")
    return fig


def ecdf_figure(studies: list[optuna.Study], name: str) -> Figure:
    """Empirical distribution of the first objective across studies (Optuna's EDF)."""
    from optuna.visualization.matplotlib import plot_edf

    with _optuna_plot():
        ax = plot_edf(studies, target=lambda t: t.values[0], target_name=name)
        fig = _detach(ax, f"Empirical distribution of {name}")
    for i, line in enumerate(ax.get_lines()):  # Optuna's pale shades are hard to tell apart
        line.set_color(f"C{i % 10}")
        line.set_linewidth(1.8)
    ax.legend(loc="upper left", fontsize="small")
    ax.set_ylabel("share of complete trials <= value")
    return fig


def compare_history_figure(frames: dict[str, pd.DataFrame], name: str, direction: str) -> Figure:
    """Best-so-far of several studies on one axis (``best_so_far`` frames keyed by study name)."""
    fig = _figure(9, 4.5)
    ax = fig.subplots()
    for study_name, data in frames.items():
        ax.step(data["number"], data["best"], where="post", label=study_name)
    ax.set_xlabel("trial number")
    ax.set_ylabel(f"best {name} so far")
    ax.set_title(f"Best-so-far {name} ({direction})")
    ax.grid(alpha=0.3)
    if frames:
        ax.legend(fontsize="small")
    return fig
