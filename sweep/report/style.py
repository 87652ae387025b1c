"""One look for every report figure, defined here once: colours, grid, fonts, and the figure they go in.

Every figure function in ``plots`` and ``parallel`` is drawn under :func:`styled` (an ``rc_context``, so the
global rcParams never change) into a :func:`figure`; none uses Optuna's drawing (its plots set ggplot).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap, LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.rcsetup import cycler
from matplotlib.typing import RcKeyType

__all__ = [
    "BETTER",
    "FEASIBLE",
    "FRONT",
    "INFEASIBLE",
    "LIMIT",
    "PALETTE",
    "RC",
    "figure",
    "legend_below",
    "legend_beside",
    "styled",
]

FEASIBLE = "#1f77b4"  # a trial that meets every constraint
INFEASIBLE = "#a8a8a8"  # a trial that breaks one (drawn dotted where lines are drawn)
FRONT = "#d62728"  # the study's best trials, the best so far
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
LIMIT = "#555555"  # a constraint's limit, dashed
GRID = "#e0e0e0"
TEXT = "#222222"

RC: dict[RcKeyType, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 9.0,
    "figure.titlesize": 11.0,
    "legend.fontsize": 8.0,
    "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0,
    "text.color": TEXT,
    "axes.labelcolor": TEXT,
    "xtick.color": TEXT,
    "ytick.color": TEXT,
    "axes.edgecolor": "#555555",
    "axes.facecolor": "white",
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": GRID,
    "grid.linewidth": 0.7,
    "grid.linestyle": "-",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=PALETTE),
    "legend.frameon": False,
    "lines.linewidth": 1.5,
    "image.cmap": "Blues",
}

# Better is darker: values from pale (worst) to dark (best), never so pale that a line disappears.
BETTER: Colormap = LinearSegmentedColormap.from_list(
    "better", matplotlib.colormaps["Blues"](np.linspace(0.3, 1.0, 256)))

P = ParamSpec("P")
R = TypeVar("R")


def styled(draw: Callable[P, R]) -> Callable[P, R]:
    """Draw a figure under the report's rcParams (restored afterwards)."""
    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with matplotlib.rc_context(RC):
            return draw(*args, **kwargs)

    return wrapper


def figure(width: float = 8.0, height: float = 4.5, **kw: Any) -> Figure:
    """A Figure on an Agg canvas (no pyplot state), laid out by constrained layout unless told otherwise."""
    kw.setdefault("layout", "constrained")
    fig = Figure(figsize=(width, height), **kw)
    FigureCanvasAgg(fig)
    return fig


def _handles(fig: Figure) -> dict[str, Any]:
    """One handle per label over all the figure's axes, in drawing order (a label on several panels once)."""
    return {label: h for ax in fig.axes for h, label in zip(*ax.get_legend_handles_labels(), strict=True)
            if not label.startswith("_")}


def legend_below(fig: Figure) -> Legend | None:
    """The figure's one legend, under its panels (constrained layout makes room): a legend never sits on data."""
    handles = _handles(fig)
    if not handles:
        return None
    return fig.legend(list(handles.values()), list(handles), loc="outside lower center",
                      ncols=min(len(handles), 4))


def legend_beside(fig: Figure) -> Legend | None:
    """The figure's one legend, right of its panels, for a long list (trials, studies)."""
    handles = _handles(fig)
    return fig.legend(list(handles.values()), list(handles), loc="outside right upper") if handles else None
