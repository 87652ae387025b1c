"""Parallel coordinates of a study's complete trials, computed (``parallel_data``) then drawn (``parallel_figure``).

The best trials are the darkest lines, in the study's direction (one objective: its value; several: the
Pareto rank among feasible trials, 0 = the study's front); infeasible trials are grey and dotted. Axes carry
their full names, ticks in each param's own values (integer params, integer ticks; log ranges, log
positions), over the range the space allowed; a param a trial did not use goes to an ``unused`` mark
below its axis, not to a value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import optuna
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from sweep.report.frame import Objectives
from sweep.report.fronts import pareto_ranks
from sweep.report.params import UNUSED, ParamNames
from sweep.report.scales import log_scale
from sweep.report.style import BETTER, INFEASIBLE, figure, styled
from sweep.units import axis_label, unit_of

__all__ = ["UNUSED_AT", "Axis", "ParallelData", "parallel_data", "parallel_figure"]

UNUSED_AT = -0.16  # the height of the "unused" mark, below every axis's 0..1


@dataclass(frozen=True)
class Axis:
    """One vertical axis: its name, how values sit on it, and the range it spans (shown units)."""

    name: str
    kind: str  # "float", "log", "int" or "choice"
    low: float = 0.0
    high: float = 1.0
    step: int = 1
    choices: tuple[Any, ...] = ()

    def position(self, value: Any) -> float:
        """0..1 along the axis; ``UNUSED_AT`` for a value the trial did not use (None or NaN)."""
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return UNUSED_AT
        if self.kind == "choice":
            index = next(i for i, c in enumerate(self.choices)
                         if c == value and isinstance(c, bool) == isinstance(value, bool))
            return 0.5 if len(self.choices) == 1 else index / (len(self.choices) - 1)
        lo, hi, v = (math.log10(self.low), math.log10(self.high), math.log10(value)) if self.kind == "log" else (
            self.low, self.high, float(value))
        return 0.5 if hi == lo else (v - lo) / (hi - lo)

    def ticks(self) -> list[tuple[float, str]]:
        """(position, label) of each tick, in the axis's own values."""
        if self.kind == "choice":
            return [(self.position(c), str(c)) for c in self.choices]
        if self.low == self.high:
            return [(0.5, self._label(self.low))]
        if self.kind == "log":
            decades = range(math.ceil(math.log10(self.low)), math.floor(math.log10(self.high)) + 1)
            values = sorted({self.low, self.high, *(10.0 ** d for d in decades)})
        elif self.kind == "int" and (self.high - self.low) / self.step <= 8:
            values = list(np.arange(self.low, self.high + self.step / 2, self.step))
        else:
            locator = MaxNLocator(nbins=6, integer=self.kind == "int", steps=[1, 2, 2.5, 5, 10])
            values = [v for v in locator.tick_values(self.low, self.high) if self.low - 1e-9 <= v <= self.high + 1e-9]
            if self.kind == "int":
                values = [v for v in values if (v - self.low) % self.step == 0]
        return [(self.position(v), self._label(v)) for v in values]

    def _label(self, v: float) -> str:
        return str(round(v)) if self.kind == "int" else f"{v:.3g}"


def _param_axis(name: str, dist: BaseDistribution) -> Axis:
    if isinstance(dist, CategoricalDistribution):
        choices = tuple(dist.choices)
        numeric = all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in choices)
        return Axis(name, "choice", choices=tuple(sorted(choices)) if numeric else choices)
    if isinstance(dist, IntDistribution):
        return Axis(name, "log" if dist.log else "int", dist.low, dist.high, step=dist.step)
    if isinstance(dist, FloatDistribution):
        return Axis(name, "log" if dist.log else "float", dist.low, dist.high)
    raise TypeError(f"no axis for {type(dist).__name__}")


def _fit(axis: Axis, column: pd.Series) -> Axis:
    """Widen the space's range to values older trials took (a study file's space may have changed)."""
    seen = [v for v in column if v is not None and v is not pd.NA and not (isinstance(v, float) and math.isnan(v))]
    if axis.kind == "choice":
        extra = [v for v in dict.fromkeys(seen) if not any(
            c == v and isinstance(c, bool) == isinstance(v, bool) for c in axis.choices)]
        return replace(axis, choices=(*axis.choices, *extra)) if extra else axis
    return replace(axis, low=min(axis.low, *map(float, seen)), high=max(axis.high, *map(float, seen)))


def _objective_axis(name: str, values: pd.Series) -> Axis:
    shown = values.astype(float) * unit_of(name).scale
    kind = "log" if log_scale(shown) else "float"
    return Axis(axis_label(name), kind, float(shown.min()), float(shown.max()))


@dataclass(frozen=True)
class ParallelData:
    """What the parallel-coordinates figure draws, one row per complete trial."""

    axes: list[Axis]
    positions: np.ndarray  # trials x axes: 0..1, or UNUSED_AT
    numbers: np.ndarray
    feasible: np.ndarray
    colour: np.ndarray  # one objective: its value (shown units); several: Pareto rank; NaN when infeasible
    higher_is_better: bool
    colour_label: str
    ranked: bool = False

    def order(self) -> np.ndarray:
        """The feasible rows from worst to best (the best drawn last, on top)."""
        good = np.flatnonzero(self.feasible)
        return good[np.argsort(self.colour[good] if self.higher_is_better else -self.colour[good], kind="stable")]

    def norm(self) -> Normalize:
        """Colour scale: ranks from 0 (the front), values over their range."""
        values = self.colour[self.feasible]
        low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
        if self.ranked:
            return Normalize(0.0, max(high, 1.0))
        return Normalize(low, high) if high > low else Normalize(low - 1.0, high + 1.0)


def parallel_data(study: optuna.Study, df: pd.DataFrame, objectives: Objectives, names: ParamNames) -> ParallelData:
    """The complete trials with every objective (``df`` from ``trials_frame(study, names=names)``) on axes:
    the objectives first, then each param in the study file's order."""
    done = df[df["state"] == "COMPLETE"].dropna(subset=objectives.names).sort_values("number")
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    axes = [_objective_axis(n, done[n]) for n in objectives.names]
    columns: list[Any] = [done[n].astype(float) * unit_of(n).scale for n in objectives.names]
    for raw, dist in names.distributions(complete).items():
        column = f"params_{names.name(raw)}"
        if column in done.columns and done[column].notna().any():  # a param no trial used: no axis
            axes.append(_fit(_param_axis(names.name(raw), dist), done[column]))
            columns.append(done[column])
    positions = np.array([[axis.position(v) for v in col] for axis, col in zip(axes, columns, strict=True)]).T
    feasible = done["feasible"].to_numpy(dtype=bool)
    if objectives.multi:
        colour = np.full(len(done), np.nan)
        colour[feasible] = pareto_ranks(done.loc[feasible, objectives.names].to_numpy(), objectives.directions)
        higher, label = False, "Pareto rank among feasible trials (0 = the study's front)"
    else:
        colour = np.where(feasible, columns[0].to_numpy(dtype=float), np.nan)
        higher, label = objectives.directions[0] == "maximize", f"{axis_label(objectives.names[0])}"
    return ParallelData(axes, positions.reshape(len(done), len(axes)), done["number"].to_numpy(dtype=int),
                        feasible, colour, higher, label, ranked=objectives.multi)


def _lines(data: ParallelData, rows: np.ndarray) -> list[np.ndarray]:
    x = np.arange(len(data.axes), dtype=float)
    return [np.column_stack([x, data.positions[r]]) for r in rows]


@styled
def parallel_figure(data: ParallelData, title: str) -> Figure:
    """Parallel coordinates of ``parallel_data``: the best trials darkest and drawn on top."""
    n = len(data.axes)
    fig = figure(max(9.0, 0.85 * n + 3.0), 5.8, layout=None)
    fig.subplots_adjust(left=0.1, right=0.86, top=0.86, bottom=0.26)
    ax = fig.subplots()
    ax.set_xlim(-0.1, max(n - 1, 1) + 0.25)
    ax.set_ylim(UNUSED_AT - 0.06, 1.04)
    ax.grid(False)
    ax.set_yticks([])
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_xticks(range(n), [a.name for a in data.axes], rotation=35, ha="right", rotation_mode="anchor")
    infeasible = np.flatnonzero(~data.feasible)
    if len(infeasible):
        ax.add_collection(LineCollection(_lines(data, infeasible), colors=INFEASIBLE, linestyles="dotted",
                                         linewidths=1.0, alpha=0.8))
    good = data.order()
    cmap = BETTER if data.higher_is_better else BETTER.reversed()
    lines = LineCollection(_lines(data, good), cmap=cmap, norm=data.norm(), linewidths=1.4)
    lines.set_array(data.colour[good])
    ax.add_collection(lines)
    bar = fig.colorbar(lines, cax=fig.add_axes((0.92, 0.26, 0.012, 0.6)))
    bar.set_label(f"{data.colour_label}; darker = better")
    if data.ranked:
        bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    for j, axis in enumerate(data.axes):
        _draw_axis(ax, j, axis, bool((data.positions[:, j] == UNUSED_AT).any()) if len(data.positions) else False)
    if len(infeasible):
        ax.legend(handles=[Line2D([], [], color=INFEASIBLE, linestyle="dotted", label="infeasible trial")],
                  loc="lower right", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title)
    return fig


def _draw_axis(ax: Any, j: int, axis: Axis, has_unused: bool) -> None:
    twin = ax.twinx()
    twin.set_label(axis.name)
    twin.set_ylim(ax.get_ylim())
    twin.grid(False)
    for side in ("top", "bottom", "left"):
        twin.spines[side].set_visible(False)
    twin.spines["right"].set_visible(True)
    twin.spines["right"].set_position(("data", j))
    twin.spines["right"].set_bounds(0, 1)
    ticks = axis.ticks() + ([(UNUSED_AT, UNUSED)] if has_unused else [])
    twin.set_yticks([p for p, _ in ticks], [label for _, label in ticks])
    for label in twin.get_yticklabels():
        label.set_bbox({"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5})
        if label.get_text() == UNUSED:
            label.set_fontstyle("italic")
