"""The data behind every report table and plot, built from studies made directly with Optuna."""

from __future__ import annotations

import math
import random

import numpy as np
import optuna
import pytest
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState, create_trial

from sweep.report import frame as fr
from sweep.report import fronts

DEVICE = "cortex-m4f-80mhz"
CLASSES = ["noise", "yes", "no"]
DISTRIBUTIONS = {
    "learning_rate": FloatDistribution(1e-4, 1e-1, log=True),
    "epochs": IntDistribution(5, 40),
    "dense": CategoricalDistribution([16, 32, 64]),
}


def make_metrics(acc32: float, acc8: float, latency: float, ram: float, rom: float, compute: float) -> dict:
    m = {"float32.accuracy": acc32, "int8.accuracy": acc8, "int8.accuracy_drop": acc32 - acc8,
         "float32.loss": 1 - acc32, "int8.loss": 1 - acc8, "compute_time_s": compute, "wall_time_s": compute + 3}
    for prefix in (f"int8.{DEVICE}", DEVICE, "default"):
        m.update({f"{prefix}.latency_ms": latency, f"{prefix}.ram_bytes": ram, f"{prefix}.rom_bytes": rom,
                  f"{prefix}.model_bytes": rom * 0.8, f"{prefix}.arena_bytes": ram * 0.7})
    for c in CLASSES:
        m[f"int8.f1.{c}"] = acc8
    return m


def build_study(n: int = 20, *, multi: bool = False, seed: int = 0, fail_every: int = 7, epochs_max: int = 6,
                name: str = "synthetic", direction: str = "maximize") -> optuna.Study:
    """A study like the runner writes: metrics/curves/confusion/request attrs, FAIL/PRUNED/RUNNING trials,
    a RAM constraint (feasible when <= 0)."""
    rng = random.Random(seed)
    objectives = ["int8.accuracy", f"{DEVICE}.latency_ms"] if multi else ["int8.accuracy"]
    directions = [direction, "minimize"] if multi else [direction]
    study = optuna.create_study(directions=directions, study_name=name)
    study.set_user_attr("objectives", objectives)
    study.set_user_attr("directions", directions)
    study.set_user_attr("device", DEVICE)
    study.set_user_attr("study_file", f"studies/{name}.toml")
    for i in range(n):
        params = {"learning_rate": 10 ** rng.uniform(-4, -1), "epochs": rng.randint(5, 40),
                  "dense": rng.choice([16, 32, 64])}
        request = {"mode": "visual", "trainingCycles": params["epochs"], "learningRate": params["learning_rate"],
                   "visualLayers": [{"type": "dense", "neurons": params["dense"]}]}
        attrs = {"job_id": 1000 + i, "learn_id": 3, "request": request, "device": DEVICE}
        if fail_every and i % fail_every == fail_every - 1:
            attrs["failure"] = f"job {1000 + i} failed: out of memory (trial {i})"
            attrs["log_tail"] = ["Epoch 1/5", "Killed"]
            study.add_trial(create_trial(state=TrialState.FAIL, params=params, distributions=DISTRIBUTIONS,
                                         user_attrs=attrs))
            continue
        acc32 = min(0.99, 0.5 + 0.4 * rng.random() + 0.05 * math.log10(params["learning_rate"] * 1e4) / 3)
        acc8 = acc32 - rng.uniform(-0.005, 0.04)
        latency = params["dense"] * rng.uniform(0.5, 1.5)
        ram = params["dense"] * 1024 * rng.uniform(1, 3)
        rom = params["dense"] * 4096 * rng.uniform(1, 2)
        metrics = make_metrics(acc32, acc8, latency, ram, rom, compute=rng.uniform(10, 60))
        epochs = rng.randint(2, epochs_max)
        attrs["metrics"] = metrics
        attrs["curves"] = {"loss": [1 / (e + 1) for e in range(epochs)],
                           "accuracy": [acc32 * (e + 1) / epochs for e in range(epochs)],
                           "val_loss": [1.2 / (e + 1) for e in range(epochs)],
                           "val_accuracy": [acc8 * (e + 1) / epochs for e in range(epochs)]}
        k = len(CLASSES)
        attrs["confusion"] = {mt: [[round(40 * a) if r == c else round(40 * (1 - a) / (k - 1)) for c in range(k)]
                                   for r in range(k)]
                              for mt, a in (("float32", acc32), ("int8", acc8))}
        attrs["class_names"] = CLASSES
        values = [metrics[o] for o in objectives]
        study.add_trial(create_trial(state=TrialState.COMPLETE, values=values, params=params,
                                     distributions=DISTRIBUTIONS, user_attrs=attrs,
                                     constraints={"default.ram_bytes <= 120000": ram - 120000}))
    if n >= 3 and fail_every:
        epochs_only = {"epochs": DISTRIBUTIONS["epochs"]}
        study.add_trial(create_trial(state=TrialState.PRUNED, params={"epochs": 5}, distributions=epochs_only))
        study.add_trial(create_trial(state=TrialState.RUNNING, params={"epochs": 6}, distributions=epochs_only,
                                     user_attrs={"job_id": 9999}))
    return study


def test_trials_frame_has_one_row_per_trial_with_params_metrics_and_reasons() -> None:
    study = build_study(15)
    df = fr.trials_frame(study)
    assert list(df["number"]) == [t.number for t in study.trials]
    assert set(df["state"]) == {"COMPLETE", "FAIL", "PRUNED", "RUNNING"}
    assert {"params_learning_rate", "params_epochs", "params_dense"} <= set(df.columns)
    assert {"int8.accuracy", f"{DEVICE}.latency_ms", "default.rom_bytes", "compute_time_s", "wall_time_s",
            "job_id"} <= set(df.columns)
    t3 = study.trials[3]
    row = df.set_index("number").loc[3]
    assert row["int8.accuracy"] == pytest.approx(t3.user_attrs["metrics"]["int8.accuracy"])
    assert row["params_epochs"] == t3.params["epochs"]
    assert row["job_id"] == 1003
    assert row["wall_time_s"] == pytest.approx(t3.user_attrs["metrics"]["wall_time_s"])
    failed = df[df["state"] == "FAIL"]
    assert len(failed) == 2 and all("out of memory" in r for r in failed["failure"])
    assert failed["int8.accuracy"].isna().all()  # missing metrics are NaN, not errors
    assert df.loc[df["state"] == "RUNNING", "job_id"].iloc[0] == 9999
    # objective column mirrors the trial value; feasibility follows the constraint (<= 0)
    done = df[df["state"] == "COMPLETE"]
    assert np.allclose(done["int8.accuracy"], [t.value for t in study.trials if t.state == TrialState.COMPLETE])
    assert list(done["feasible"]) == [t.constraints["default.ram_bytes <= 120000"] <= 0
                                      for t in study.trials if t.state == TrialState.COMPLETE]


def test_trials_frame_of_empty_study_has_the_columns() -> None:
    study = optuna.create_study(direction="minimize")
    df = fr.trials_frame(study)
    assert df.empty and {"number", "state", "objective", "failure", "job_id"} <= set(df.columns)
    assert fr.best_so_far(df, "objective", "minimize").empty
    assert fr.accuracy_drop(df).empty and fr.failures(df).empty
    assert fr.top_trials(study) == []


def test_metrics_missing_on_some_trials_are_nan_and_keep_other_columns() -> None:
    study = optuna.create_study(direction="maximize")
    study.add_trial(create_trial(value=0.5, user_attrs={"metrics": {"int8.accuracy": 0.5}}))
    study.add_trial(create_trial(value=0.7, user_attrs={"metrics": {"int8.accuracy": 0.7, "float32.accuracy": 0.75}}))
    study.add_trial(create_trial(value=0.6))  # no metrics attr at all
    df = fr.trials_frame(study)
    assert math.isnan(df.loc[0, "float32.accuracy"]) and df.loc[1, "float32.accuracy"] == 0.75
    drop = fr.accuracy_drop(df)
    assert list(drop["number"]) == [1] and drop["drop"].iloc[0] == pytest.approx(0.05)
    assert fronts.device_frame(df, fr.resolve_device(study, df), set()).empty  # no device metrics: nothing to plot


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_best_so_far_respects_direction_and_skips_failed(direction: str) -> None:
    study = optuna.create_study(direction=direction)
    for _i, v in enumerate([0.5, 0.3, None, 0.8, 0.6, 0.2]):
        if v is None:
            study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"failure": "x"}))
        else:
            study.add_trial(create_trial(value=v))
    df = fr.trials_frame(study)
    best = fr.best_so_far(df, "objective", direction)
    assert list(best["number"]) == [0, 1, 3, 4, 5]
    expected = [0.5, 0.5, 0.8, 0.8, 0.8] if direction == "maximize" else [0.5, 0.3, 0.3, 0.3, 0.2]
    assert list(best["best"]) == expected
    assert best["best"].iloc[-1] == study.best_value


def test_best_so_far_counts_only_feasible_trials_like_optuna() -> None:
    study = optuna.create_study(direction="maximize")
    for v, c in [(0.9, 1.0), (0.5, 0.0), (0.95, 2.0), (0.6, -1.0)]:
        study.add_trial(create_trial(value=v, constraints={"ram": c}))
    best = fr.best_so_far(fr.trials_frame(study), "objective", "maximize")
    assert list(best["feasible"]) == [False, True, False, True]
    assert math.isnan(best["best"].iloc[0]) and list(best["best"].iloc[1:]) == [0.5, 0.5, 0.6]
    assert best["best"].iloc[-1] == study.best_value


def test_pareto_mask_against_brute_force_and_optuna() -> None:
    rng = np.random.default_rng(1)
    pts = rng.random((60, 2))
    pts[5] = pts[6]  # ties are not dominated by each other
    for directions in (["maximize", "minimize"], ["minimize", "minimize"], ["maximize", "maximize"]):
        mask = fronts.pareto_mask(pts, directions)
        sign = np.array([-1 if d == "maximize" else 1 for d in directions])
        c = pts * sign
        brute = [not any((c[j] <= c[i]).all() and (c[j] < c[i]).any() for j in range(len(c))) for i in range(len(c))]
        assert list(mask) == brute
        assert mask[5] == mask[6]
    assert fronts.pareto_mask(np.empty((0, 2)), ["minimize", "minimize"]).size == 0
    study = build_study(40, multi=True, fail_every=0)
    df = fr.trials_frame(study)
    df = df[df["feasible"]]  # Optuna's best_trials holds only feasible trials
    mask = fronts.pareto_mask(df[["int8.accuracy", f"{DEVICE}.latency_ms"]].to_numpy(), ["maximize", "minimize"])
    assert set(df["number"][mask]) == {t.number for t in study.best_trials}


@pytest.mark.parametrize("multi", [False, True], ids=["one-objective", "two-objectives"])
def test_device_frame_marks_the_studys_own_front_and_resolves_device(multi: bool) -> None:
    """The front on the device plot is the study's best trials (its objectives), not a front of each panel."""
    study = build_study(30, multi=multi)
    df = fr.trials_frame(study)
    assert fr.resolve_device(study, df) == DEVICE  # study attr
    assert fr.resolve_device(study, df, "default") == "default"  # explicit argument wins
    study.set_user_attr("device", "not-a-device")
    assert fr.resolve_device(study, df) == "default"  # falls back to the default device's keys
    front = fronts.study_front(study)
    assert front == {t.number for t in study.best_trials} and front
    dev = fronts.device_frame(df, DEVICE, front)
    assert len(dev) == (df["state"] == "COMPLETE").sum()
    assert dev.attrs["accuracy_key"] == "int8.accuracy"
    assert 0 < dev["feasible"].sum() < len(dev)  # the synthetic study has both kinds
    assert set(dev.loc[dev["front"], "number"]) == front
    assert dev.loc[dev["front"], "feasible"].all()
    if not multi:  # one objective: its one best trial, though the accuracy-vs-RAM panel has a front of its own
        assert len(front) == 1 and front == {study.best_trial.number}
    assert fronts.device_frame(df, "unknown-mcu", front).empty


def test_pareto_ranks_peel_fronts() -> None:
    pts = np.array([[1.0, 5.0], [2.0, 2.0], [3.0, 3.0], [0.5, 9.0], [4.0, 4.0], [2.0, 2.0]])
    ranks = fronts.pareto_ranks(pts, ["minimize", "minimize"])
    assert list(ranks) == [0, 0, 1, 0, 2, 0]
    assert list(fronts.pareto_ranks(pts, ["maximize", "maximize"])) == [0, 2, 1, 0, 0, 2]


def test_hypervolume_history_equals_optunas() -> None:
    """The hypervolume the report draws is the one Optuna's own hypervolume history computes (feasible only)."""
    import warnings

    from optuna.visualization.matplotlib import plot_hypervolume_history

    study = build_study(40, multi=True)
    o = fr.objectives_of(study)
    frame = fronts.objective_frame(fr.trials_frame(study), o, fronts.study_front(study))
    ref = [0.5, 200.0]
    ours = fronts.hypervolume_history(frame, o, ref)
    import matplotlib
    from matplotlib import pyplot as plt

    with matplotlib.rc_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ax = plot_hypervolume_history(study, ref)
        theirs = ax.get_lines()[0].get_xydata()
        plt.close(ax.figure)
    assert list(ours["number"]) == list(theirs[:, 0].astype(int))
    assert np.allclose(ours["hypervolume"], theirs[:, 1])
    assert ours["hypervolume"].is_monotonic_increasing and ours["hypervolume"].iloc[-1] > 0
    cube = np.array([[0.2, 0.2, 0.2], [0.5, 0.1, 0.6]])
    assert fronts.hypervolume(cube, np.ones(3)) == pytest.approx(0.8 ** 3 + 0.5 * 0.9 * 0.4 - 0.5 * 0.8 * 0.4)


def test_accuracy_drop_per_trial() -> None:
    study = build_study(12)
    df = fr.trials_frame(study)
    drop = fr.accuracy_drop(df)
    for _, r in drop.iterrows():
        m = study.trials[int(r["number"])].user_attrs["metrics"]
        assert r["drop"] == pytest.approx(m["float32.accuracy"] - m["int8.accuracy"])
        assert r["drop"] == pytest.approx(m["int8.accuracy_drop"])
    assert set(drop["number"]) == set(df.loc[df["state"] == "COMPLETE", "number"])


def test_top_trials_ranking_feasible_first_and_direction() -> None:
    study = optuna.create_study(direction="minimize")
    study.add_trial(create_trial(value=0.1, constraints={"c": 5.0}))  # best value but infeasible
    study.add_trial(create_trial(value=0.4, constraints={"c": -1.0}))
    study.add_trial(create_trial(value=0.2, constraints={"c": 0.0}))
    study.add_trial(create_trial(state=TrialState.FAIL))
    assert [t.number for t in fr.top_trials(study, 5)] == [2, 1, 0]
    assert [t.number for t in fr.top_trials(study, 1)] == [2]
    multi = build_study(30, multi=True, fail_every=0)
    top = fr.top_trials(multi, 50)
    front = {t.number for t in multi.best_trials if all(v <= 0 for v in t.constraints.values())}
    assert {t.number for t in top[:len(front)]} == front


def test_curves_frame_extracts_epochs_per_trial() -> None:
    study = build_study(10, fail_every=0)
    trials = study.trials[:3]
    curves = fr.curves_frame(trials)
    for t in trials:
        for series, values in t.user_attrs["curves"].items():
            part = curves[(curves["number"] == t.number) & (curves["series"] == series)]
            assert list(part["epoch"]) == list(range(1, len(values) + 1))
            assert list(part["value"]) == pytest.approx(values)
    odd = create_trial(value=1.0, user_attrs={"curves": {"val_loss": [0.5, float("nan"), 0.3]}})
    assert list(fr.curves_frame([odd])["epoch"]) == [1, 3]  # non-finite points dropped, epochs kept
    assert fr.curves_frame([create_trial(value=1.0)]).empty


def test_confusion_frames_labelled_float32_first() -> None:
    t = create_trial(value=1.0, user_attrs={"confusion": {"int8": [[3, 1], [0, 4]], "float32": [[4, 0], [1, 3]]},
                                            "class_names": ["cat", "dog"]})
    frames = fr.confusion_frames(t)
    assert list(frames) == ["float32", "int8"]
    assert list(frames["int8"].index) == ["cat", "dog"] and frames["int8"].loc["cat", "dog"] == 1
    wrong_names = create_trial(value=1.0, user_attrs={"confusion": {"int8": [[1, 0], [0, 1]]}, "class_names": ["a"]})
    assert list(fr.confusion_frames(wrong_names)["int8"].index) == ["0", "1"]


def test_failures_and_summary_counts() -> None:
    study = build_study(14)
    study.add_trial(create_trial(state=TrialState.FAIL))  # no reason recorded
    df = fr.trials_frame(study)
    failed = fr.failures(df)
    assert list(failed["number"]) == [6, 13, 16]
    assert failed["failure"].iloc[-1] == "no reason recorded"
    s = fr.summary(study, df, fr.top_trials(study))
    assert s.counts["COMPLETE"] == 12 and s.counts["FAIL"] == 3 and s.counts["PRUNED"] == 1 and s.counts["RUNNING"] == 1
    assert s.total == 17 and s.wall_time_s >= 0
    assert s.compute_time_s == pytest.approx(sum(t.user_attrs["metrics"]["compute_time_s"]
                                                 for t in study.trials if "metrics" in t.user_attrs))


def test_objective_names_fall_back_when_attr_missing() -> None:
    s = optuna.create_study(directions=["maximize", "minimize"])
    o = fr.objectives_of(s)
    assert o.names == ["objective 0", "objective 1"] and o.directions == ["maximize", "minimize"] and o.multi


def test_compare_frames_follow_each_study_direction_and_best_table() -> None:
    from sweep.report.compare import best_table, history_frames, shared_objective

    up = build_study(12, name="up")
    down = optuna.create_study(direction="minimize", study_name="down")
    down.set_user_attr("objectives", ["default.latency_ms"])
    for v in (30.0, 20.0, 25.0, 10.0):
        down.add_trial(create_trial(value=v, params={"epochs": 5}, distributions={"epochs": DISTRIBUTIONS["epochs"]},
                                    user_attrs={"metrics": {"default.latency_ms": v}}))
    frames = history_frames([up, down])
    assert list(frames["down"]["best"]) == [30.0, 20.0, 20.0, 10.0]
    assert frames["up"]["best"].iloc[-1] == up.best_value
    name, direction, notes = shared_objective([up, down])
    assert (name, direction) == ("int8.accuracy", "maximize") and "down" in notes[0]
    table = best_table([up, down]).set_index("field")
    assert table.loc["best trial", "up"] == up.best_trial.number and table.loc["best trial", "down"] == 3
    assert table.loc["int8.accuracy (maximize)", "up"] == up.best_value
    assert table.loc["default.latency_ms (minimize)", "down"] == 10.0
    assert table.loc["failed", "up"] == 1 and table.loc["complete", "down"] == 4
    assert table.loc["param dense", "up"] == up.best_trial.params["dense"]


def test_a_pruned_trial_says_where_it_stopped() -> None:
    study = optuna.create_study(direction="maximize")
    d = {"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)}
    study.add_trial(optuna.trial.create_trial(
        params={"lr": 0.05}, distributions=d, state=TrialState.PRUNED, intermediate_values={0: 0.1, 1: 0.12},
        user_attrs={"job_id": 9, "pruned": {"epoch": 2, "curve": "val_accuracy", "value": 0.1234567}}))
    row = fr.trials_frame(study).iloc[0]
    assert (row["state"], row["job_id"]) == ("PRUNED", 9)
    assert row["failure"] == "pruned at epoch 2 (val_accuracy = 12.35 %)"
    assert fr.failures(fr.trials_frame(study)).empty  # pruning is not a failure


def test_a_trials_model_attr_and_the_older_three_attrs_read_alike() -> None:
    """New studies keep curves, confusion and class names in one ``model`` attr (one write); studies written
    before kept three attrs: both give the same frames."""
    from sweep.session.records import model_attr

    parts = ({"val_loss": [0.5, 0.3]}, {"int8": [[3, 1], [0, 4]]}, ["cat", "dog"])
    new = create_trial(value=1.0, user_attrs={"model": model_attr(*parts)})
    old = create_trial(value=1.0, user_attrs=dict(zip(("curves", "confusion", "class_names"), parts, strict=True)))
    import pandas as pd

    pd.testing.assert_frame_equal(fr.curves_frame([new]), fr.curves_frame([old]))
    pd.testing.assert_frame_equal(fr.confusion_frames(new)["int8"], fr.confusion_frames(old)["int8"])
    assert list(fr.confusion_frames(new)["int8"].index) == ["cat", "dog"] and len(fr.curves_frame([new])) == 2


def test_device_frame_of_a_whole_impulse_study_uses_the_totals() -> None:
    """With DSP metrics the cost plotted is DSP + network (``{device}.total_*``), not the network's alone."""
    study = build_study(12, multi=False)
    df = fr.trials_frame(study)
    for f in ("latency_ms", "ram_bytes", "rom_bytes"):
        df[f"{DEVICE}.total_{f}"] = df[f"{DEVICE}.{f}"] + 1000.0
    dev = fronts.device_frame(df, DEVICE, fronts.study_front(study))
    done = df[df["state"] == "COMPLETE"].reset_index(drop=True)
    assert dev.attrs["total"] is True
    assert list(dev["latency_ms"]) == list(done[f"{DEVICE}.total_latency_ms"].astype(float))
    assert list(dev["ram_bytes"]) == list(done[f"{DEVICE}.ram_bytes"].astype(float) + 1000.0)
    assert fronts.device_frame(fr.trials_frame(study), DEVICE, set()).attrs["total"] is False
