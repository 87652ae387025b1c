"""Every report figure: a matplotlib Figure with axes and the frame's data drawn; no pyplot state leaks."""

from __future__ import annotations

import matplotlib
import numpy as np
import optuna
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from test_report_frame import DEVICE, build_study

from sweep.report import frame as fr
from sweep.report import plots
from sweep.report.page import figure_png


@pytest.fixture(scope="module")
def single() -> optuna.Study:
    return build_study(30)


@pytest.fixture(scope="module")
def multi() -> optuna.Study:
    return build_study(30, multi=True)


@pytest.fixture(autouse=True)
def _no_pyplot_or_style_leak() -> object:
    from matplotlib import pyplot as plt

    style = dict(matplotlib.rcParams)
    yield
    assert plt.get_fignums() == [], "a figure was left in pyplot's registry"
    assert dict(matplotlib.rcParams) == style, "a plot changed global rcParams (e.g. optuna's ggplot style)"


def _check(fig: Figure) -> None:
    assert isinstance(fig, Figure)
    assert fig.axes and any(ax.has_data() for ax in fig.axes)
    png = figure_png(fig)
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_backend_is_agg() -> None:
    assert matplotlib.get_backend().lower() == "agg"


def test_optuna_history_single(single: optuna.Study) -> None:
    o = fr.objectives_of(single)
    fig = plots.history_figure(single, o)
    _check(fig)
    assert "int8.accuracy" in fig.get_suptitle()


def test_multi_history_draws_best_so_far(multi: optuna.Study) -> None:
    o = fr.objectives_of(multi)
    frames = {n: fr.best_so_far(fr.trials_frame(multi), n, d) for n, d in zip(o.names, o.directions, strict=False)}
    fig = plots.multi_history_figure(frames, o)
    _check(fig)
    assert len(fig.axes) == 2
    for ax, name in zip(fig.axes, o.names, strict=False):
        step = ax.get_lines()[0]
        assert np.allclose(step.get_ydata(), frames[name]["best"], equal_nan=True)


def test_importance_single_and_per_objective(single: optuna.Study, multi: optuna.Study) -> None:
    _check(plots.importance_figure(single, fr.objectives_of(single)))
    o = fr.objectives_of(multi)
    imp = fr.importances(multi, o)
    assert set(imp["objective"]) == set(o.names)
    assert set(imp["param"]) == {"learning_rate", "epochs", "dense"}
    for _, g in imp.groupby("objective"):
        assert g["importance"].sum() == pytest.approx(1.0)
    fig = plots.importance_bars_figure(imp)
    _check(fig)
    assert len(fig.axes[0].patches) == len(imp)


def test_importance_respects_maximize_sign(single: optuna.Study) -> None:
    """For a maximised objective the per-objective importances equal Optuna's own (direction-aware) ones."""
    o = fr.objectives_of(single)
    ours = fr.importances(single, o).set_index("param")["importance"]
    theirs = optuna.importance.get_param_importances(single)
    assert {k: pytest.approx(v) for k, v in theirs.items()} == ours.to_dict()


def test_parallel_pareto_hypervolume(single: optuna.Study, multi: optuna.Study) -> None:
    _check(plots.parallel_figure(single, fr.objectives_of(single)))
    o = fr.objectives_of(multi)
    _check(plots.parallel_figure(multi, o))
    _check(plots.pareto_figure(multi, o))
    _check(plots.hypervolume_figure(multi, [0.0, 1000.0]))


def test_device_figure_marks_the_front(single: optuna.Study) -> None:
    dev = fr.device_frame(fr.trials_frame(single), DEVICE)
    fig = plots.device_figure(dev, DEVICE)
    _check(fig)
    assert len(fig.axes) == 3
    ax = fig.axes[0]
    assert "latency" in ax.get_xlabel() and "(ms)" in ax.get_xlabel()
    assert "(KiB)" in fig.axes[1].get_xlabel()
    front_line = ax.get_lines()[0]
    front = dev[dev["pareto_latency_ms"]].sort_values("latency_ms")
    assert np.allclose(front_line.get_xdata(), front["latency_ms"])
    assert np.allclose(front_line.get_ydata(), front["accuracy"])
    labels = [c.get_label() for c in ax.collections if isinstance(c, PathCollection)]
    assert {"feasible", "infeasible", "Pareto front"} <= set(labels)


def test_curves_confusion_drop(single: optuna.Study) -> None:
    top = fr.top_trials(single, 3)
    curves = fr.curves_frame(top)
    fig = plots.curves_figure(curves)
    _check(fig)
    assert len(fig.axes[0].get_lines()) == 3 and len(fig.axes[1].get_lines()) == 3
    fig = plots.confusion_figure(fr.confusion_frames(top[0]), top[0].number)
    _check(fig)
    assert [ax.get_title() for ax in fig.axes] == ["float32", "int8"]
    drop = fr.accuracy_drop(fr.trials_frame(single))
    fig = plots.accuracy_drop_figure(drop)
    _check(fig)
    assert np.allclose([p.get_height() for p in fig.axes[0].patches], drop["drop"] * 100)
    assert sum(p.get_width() for p in fig.axes[1].patches) == len(drop)  # histogram counts every trial
    many = fr.accuracy_drop(fr.trials_frame(build_study(120, fail_every=0)))
    fig = plots.accuracy_drop_figure(many)  # large studies: points instead of bars
    _check(fig)
    assert np.allclose(fig.axes[0].collections[0].get_offsets()[:, 1], many["drop"] * 100)


def test_compare_figures(single: optuna.Study) -> None:
    other = build_study(20, seed=5, name="other")
    frames = {s.study_name: fr.best_so_far(fr.trials_frame(s), "int8.accuracy", "maximize") for s in (single, other)}
    fig = plots.compare_history_figure(frames, "int8.accuracy", "maximize")
    _check(fig)
    assert len(fig.axes[0].get_lines()) == 2
    _check(plots.ecdf_figure([single, other], "int8.accuracy"))
