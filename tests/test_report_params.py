"""Params and units as the report shows them: layer names, unused values, %, KiB, constraints as value <= limit."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial
from test_report_frame import DEVICE, make_metrics

from sweep.report import frame as fr
from sweep.report.page import write_csv
from sweep.report.params import UNUSED, ParamNames, param_names
from sweep.study.load import load_study
from sweep.study.space import outline
from sweep.units import axis_label, metric_text

STUDIES = Path(__file__).resolve().parent.parent / "studies"
RAM_LIMIT = 32768
# a space like studies/digits.toml, with a second conv2d block and spectrogram options
OUTLINE = {"layers": [{"type": "conv2d"}, {"type": "conv2d"}, {"type": "flatten"}, {"type": "dense"},
                      {"type": "dropout", "repeat": 0}]}
LAYERED = {
    "learning_rate": FloatDistribution(5e-4, 2e-2, log=True),
    "batch_size": CategoricalDistribution([16, 32, 64]),
    "training_cycles": IntDistribution(10, 30, step=10),
    "spectrogram.enabled": CategoricalDistribution([True, False]),
    "spectrogram.freq_masking": CategoricalDistribution(["none", "low", "high"]),
    "layers.0.neurons": IntDistribution(8, 32, step=8),
    "layers.0.repeat": IntDistribution(0, 2),
    "layers.1.neurons": IntDistribution(8, 32, step=8),
    "layers.3.neurons": IntDistribution(16, 64, step=16),
    "layers.4.dropout_rate": FloatDistribution(0.0, 0.4),
}


def build_layered_study(n: int = 24, *, multi: bool = False, direction: str = "maximize", seed: int = 0,
                        infeasible: bool = True, outline_attr: bool = True) -> optuna.Study:
    """Trials as the runner records them for a layered space: some repeat the first conv2d block 0 times,
    some switch spectrogram augmentation off; some break the RAM limit when ``infeasible``."""
    rng = random.Random(seed)
    objectives = ["int8.accuracy", f"{DEVICE}.latency_ms"] if multi else ["int8.accuracy"]
    study = optuna.create_study(directions=[direction, "minimize"] if multi else [direction], study_name="layered")
    study.set_user_attr("objectives", objectives)
    study.set_user_attr("device", DEVICE)
    study.set_user_attr("constraints", [f"{DEVICE}.ram_bytes <= {RAM_LIMIT}"])
    if outline_attr:
        study.set_user_attr("space_outline", OUTLINE)
    for i in range(n):
        params = {"learning_rate": 10 ** rng.uniform(math.log10(5e-4), math.log10(2e-2)),
                  "batch_size": rng.choice([16, 32, 64]), "training_cycles": rng.choice([10, 20, 30]),
                  "spectrogram.enabled": i % 3 != 0, "spectrogram.freq_masking": rng.choice(["none", "low", "high"]),
                  "layers.0.neurons": rng.choice([8, 16, 24, 32]), "layers.0.repeat": i % 3,
                  "layers.1.neurons": rng.choice([8, 16, 24, 32]), "layers.3.neurons": rng.choice([16, 32, 48, 64]),
                  "layers.4.dropout_rate": rng.uniform(0, 0.4)}
        acc = 0.80 + 0.05 * params["layers.0.repeat"] + 0.001 * params["layers.3.neurons"] + rng.uniform(0, 0.04)
        latency = (0.3 + params["layers.0.repeat"] * params["layers.0.neurons"] / 4) * rng.uniform(0.8, 1.2)
        ram = (20000 if infeasible else 8000) + params["layers.0.repeat"] * 1000 * rng.uniform(1, 12)
        metrics = make_metrics(acc + 0.005, acc, latency, ram, ram * 8, compute=20)
        study.add_trial(create_trial(
            state=TrialState.COMPLETE, values=[metrics[o] for o in objectives], params=params,
            distributions=LAYERED, user_attrs={"metrics": metrics, "job_id": 100 + i},
            constraints={f"{DEVICE}.ram_bytes <= {RAM_LIMIT}": ram - RAM_LIMIT}))
    return study


def test_metrics_are_written_in_one_unit_each() -> None:
    assert metric_text("int8.accuracy", 0.98611) == "98.61 %"
    assert metric_text("int8.f1.yes", 0.5) == "50 %"
    assert metric_text("val_accuracy", 0.9) == "90 %"
    assert metric_text("int8.accuracy_drop", 0.0027778) == "0.28 pp"
    assert metric_text("int8.accuracy_drop", -0.0) == "0 pp"
    assert metric_text(f"{DEVICE}.ram_bytes", 6042) == "5.9 KiB"
    assert metric_text(f"{DEVICE}.ram_bytes", 32768) == "32 KiB"
    assert metric_text(f"{DEVICE}.latency_ms", 2.71828) == "2.718 ms"
    assert metric_text("compute_time_s", 21.34) == "21.3 s"
    assert metric_text("int8.loss", 0.123456) == "0.1235"
    assert axis_label("int8.accuracy") == "int8.accuracy (%)"
    assert axis_label(f"{DEVICE}.rom_bytes", "ROM") == "ROM (KiB)" and axis_label("int8.loss") == "int8.loss"


@pytest.mark.parametrize(("key", "raw", "metrics", "text"), [
    pytest.param(f"{DEVICE}.ram_bytes <= 32768", 6042 - 32768, {f"{DEVICE}.ram_bytes": 6042},
                 "5.9 KiB <= 32 KiB (met)", id="ram-met"),
    pytest.param(f"{DEVICE}.ram_bytes <= 32768", 40960 - 32768, {}, "40 KiB <= 32 KiB (broken)",
                 id="value-from-optunas-number"),
    pytest.param("int8.accuracy >= 0.9", 0.9 - 0.95, {"int8.accuracy": 0.95}, "95 % >= 90 % (met)", id="accuracy"),
    pytest.param(f"{DEVICE}.latency_ms <= 5", 1.5, {}, "6.5 ms <= 5 ms (broken)", id="latency"),
    pytest.param("ram", -1.0, {}, "-1 (met; Optuna's constraint value, <= 0 is met)", id="not-ours"),
])
def test_constraints_read_as_value_operator_limit(key: str, raw: float, metrics: dict, text: str) -> None:
    assert fr.constraint_text(key, raw, metrics) == text


def test_limit_text() -> None:
    assert fr.limit_text(f"{DEVICE}.ram_bytes <= 32768") == f"{DEVICE}.ram_bytes <= 32 KiB"
    assert fr.limit_text("not a constraint") == "not a constraint"


def test_the_space_outline_of_the_study_files() -> None:
    digits = outline(load_study(STUDIES / "digits.toml").space)
    assert digits == {"layers": [{"type": "conv2d"}, {"type": "flatten"}, {"type": "dense"}, {"type": "dropout"}]}
    keywords = outline(load_study(STUDIES / "keywords.toml").space)
    assert keywords["layers"][0] == {"type": "reshape"} and "spectrogram_enabled" not in keywords  # it is tuned
    names = param_names(optuna.create_study(), load_study(STUDIES / "digits.toml").space)
    assert [names.name(p) for p in ("layers.0.neurons", "layers.0.repeat", "layers.2.neurons",
                                    "layers.3.dropout_rate")] == [
        "conv2d.neurons", "conv2d.repeat", "dense.neurons", "dropout.dropout_rate"]


def test_names_say_which_layer_and_keep_the_files_order() -> None:
    names = ParamNames(("conv2d", "conv2d", "flatten", "dense"))
    assert names.name("layers.0.neurons") == "conv2d.neurons"
    assert names.name("layers.1.neurons") == "conv2d_1.neurons"
    assert names.name("layers.3.neurons") == "dense.neurons"
    assert names.name("layers.9.neurons") == "layers.9.neurons"  # beyond the outline: as it is
    assert names.name("learning_rate") == "learning_rate"
    assert names.order(["layers.1.neurons", "layers.0.repeat", "spectrogram.warping", "batch_size",
                        "layers.0.neurons", "learning_rate", "custom"]) == [
        "learning_rate", "batch_size", "spectrogram.warping", "layers.0.neurons", "layers.0.repeat",
        "layers.1.neurons", "custom"]


def test_unused_params_by_repeat_and_augmentation_switch() -> None:
    names = ParamNames(("conv2d", "dense"), fixed_repeat={1: 0})
    params = {"layers.0.repeat": 0, "layers.0.neurons": 16, "layers.0.kernel_size": 3, "layers.1.neurons": 32,
              "spectrogram.enabled": False, "spectrogram.warping": True, "learning_rate": 0.01}
    assert names.unused(params) == {"layers.0.neurons", "layers.0.kernel_size", "layers.1.neurons",
                                    "spectrogram.warping"}  # the repeat and the switch themselves are used
    on = {**params, "layers.0.repeat": 2, "spectrogram.enabled": True}
    assert names.unused(on) == {"layers.1.neurons"}  # fixed repeat = 0 in the space
    assert ParamNames(spectrogram_enabled=False).unused({"spectrogram.warping": True}) == {"spectrogram.warping"}
    row = names.row(params, [*params, "batch_size"])
    assert row["conv2d.neurons"] == UNUSED and row["conv2d.repeat"] == 0 and row["spectrogram.warping"] == UNUSED
    assert row["learning_rate"] == 0.01 and row["batch_size"] is None  # a param the trial has no value for
    assert names.used(params) == {"learning_rate": 0.01, "spectrogram.enabled": False, "conv2d.repeat": 0}


def test_names_come_from_the_study_then_its_file_then_as_they_are() -> None:
    recorded = build_layered_study(3)
    assert param_names(recorded).name("layers.1.neurons") == "conv2d_1.neurons"
    digits = load_study(STUDIES / "digits.toml").space
    assert param_names(recorded, digits).name("layers.1.neurons") == "conv2d_1.neurons"  # the study's own wins
    old = build_layered_study(3, outline_attr=False)  # run before outlines were recorded
    assert param_names(old).name("layers.1.neurons") == "layers.1.neurons"
    assert param_names(old, digits).name("layers.0.neurons") == "conv2d.neurons"
    assert param_names(old).unused({"layers.0.repeat": 0, "layers.0.neurons": 8}) == {"layers.0.neurons"}


def test_trials_frame_names_params_by_layer_and_blanks_unused_ones() -> None:
    study = build_layered_study(12)
    df = fr.trials_frame(study, names=param_names(study))
    params = [c for c in df.columns if c.startswith("params_")]
    assert params == ["params_learning_rate", "params_batch_size", "params_training_cycles",
                      "params_spectrogram.enabled", "params_spectrogram.freq_masking", "params_conv2d.neurons",
                      "params_conv2d.repeat", "params_conv2d_1.neurons", "params_dense.neurons",
                      "params_dropout.dropout_rate"]
    for t, (_, row) in zip(study.trials, df.iterrows(), strict=True):
        assert (pd.isna(row["params_conv2d.neurons"])) == (t.params["layers.0.repeat"] == 0)
        assert (pd.isna(row["params_spectrogram.freq_masking"])) == (not t.params["spectrogram.enabled"])
        assert pd.isna(row["params_dropout.dropout_rate"])  # its block is fixed at repeat = 0
        assert row["params_conv2d_1.neurons"] == t.params["layers.1.neurons"]
    raw = fr.trials_frame(study)  # no names: Optuna's own; an unused value is still told by the repeat's value
    assert "params_layers.0.neurons" in raw.columns
    assert list(raw["params_layers.0.neurons"].isna()) == [t.params["layers.0.repeat"] == 0 for t in study.trials]


def test_trials_csv_keeps_int_params_of_optional_layers_as_ints(tmp_path: Path) -> None:
    study = build_layered_study(12)
    df = fr.trials_frame(study, names=param_names(study))
    csv = pd.read_csv(write_csv(df, tmp_path / "trials.csv"), dtype=str, keep_default_na=False)
    neurons = [t.params["layers.0.neurons"] for t in study.trials]
    repeats = [t.params["layers.0.repeat"] for t in study.trials]
    expected = ["" if r == 0 else str(n) for n, r in zip(neurons, repeats, strict=True)]
    assert list(csv["params_conv2d.neurons"]) == expected
    assert all("." not in v for v in csv["params_conv2d.neurons"])  # 8, never 8.0
    assert df["params_conv2d.neurons"].dtype == "Int64" and df["params_learning_rate"].dtype == float
    assert all("." in v for v in csv["params_learning_rate"])


def test_importance_counts_a_param_only_where_it_was_used() -> None:
    study = build_layered_study(30)
    names = param_names(study)
    copy = names.study_used(study)
    for t, c in zip(study.trials, copy.trials, strict=True):
        assert ("conv2d.neurons" in c.params) == (t.params["layers.0.repeat"] > 0)
        assert "dropout.dropout_rate" not in c.params and c.values == t.values
    imp = fr.importances(study, fr.objectives_of(study), names=names)
    assert set(imp["param"]) == {names.name(p) for p in LAYERED} - {"dropout.dropout_rate"}
    assert imp["importance"].sum() == pytest.approx(1.0)
    assert np.isfinite(imp["importance"]).all()
