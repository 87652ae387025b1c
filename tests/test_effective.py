"""One rule for what a configuration trains: the twin key and the report's unused marks agree on every param."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import optuna
import pytest

from sweep.report.frame import trials_frame
from sweep.report.params import param_names
from sweep.study.effective import effective_request, unused_params
from sweep.study.load import load_study
from sweep.study.request import config_key, train_request
from sweep.study.space import grid, outline
from sweep.study.spec import StudySpec

from fake_studio import FakeStudio
from runner_support import load, run_sweep, sweep_env, write_study

SPACE = """\
name = "rule"
trials = 1
[target]
kind = "local"
project = "keywords"
[[objectives]]
metric = "int8.accuracy"
direction = "maximize"
[space]
learning_rate = {{ choices = [0.001, 0.01] }}
batch_size = {{ choices = [16, 32] }}
training_cycles = 10
[space.augmentation_policy_spectrogram]
enabled = {enabled}
warping = {{ choices = [true, false] }}
freq_masking = {{ choices = ["none", "low", "high"] }}
[[space.layers]]
type = "conv1d"
neurons = {{ choices = [8, 16] }}
kernel_size = {{ choices = [3, 5] }}
repeat = {{ low = 0, high = 2 }}
[[space.layers]]
type = "dense"
neurons = {{ choices = [4, 8] }}
repeat = 0
[[space.layers]]
type = "dropout"
dropout_rate = {{ choices = [0.1, 0.2] }}
{fixed}
"""


def _spec(tmp_path: Path, *, enabled: str, learned: bool) -> StudySpec:
    path = tmp_path / "rule.toml"
    path.write_text(SPACE.format(enabled=enabled, fixed="[fixed]\nuseLearnedOptimizer = true" if learned else ""))
    return load_study(path)


def test_values_without_effect_are_left_out_of_what_is_trained() -> None:
    body = {"learningRate": 0.01, "useLearnedOptimizer": True, "batchSize": 32,
            "augmentationPolicySpectrogram": {"enabled": False, "warping": True, "freqMasking": "high"},
            "visualLayers": [{"type": "dense", "neurons": 8}, {"type": "dense", "neurons": 4, "enabled": False}]}
    assert effective_request(body) == {"useLearnedOptimizer": True, "batchSize": 32,
                                       "augmentationPolicySpectrogram": {"enabled": False},
                                       "visualLayers": [{"type": "dense", "neurons": 8}]}
    assert body["augmentationPolicySpectrogram"]["warping"] is True  # the body itself is left as it was
    on = {"learningRate": 0.01, "useLearnedOptimizer": False, "augmentationPolicySpectrogram": {"enabled": True,
                                                                                               "warping": True}}
    assert effective_request(on) == on
    # twins: only a value without effect differs
    assert config_key(body) == config_key({**body, "learningRate": 0.5,
                                           "augmentationPolicySpectrogram": {"enabled": False, "timeMasking": "low"}})
    assert config_key(on) != config_key({**on, "learningRate": 0.5})
    assert unused_params({"learning_rate": 0.01, "spectrogram.warping": True, "layers.0.neurons": 8},
                         {"spectrogram.enabled": False, "layers.0.repeat": 0}, {"useLearnedOptimizer": True}) == {
        "learning_rate", "spectrogram.warping", "layers.0.neurons"}


@pytest.mark.parametrize(("enabled", "learned"), [
    pytest.param('{ choices = [true, false] }', False, id="spectrogram-tuned"),
    pytest.param("false", True, id="spectrogram-off-learned-optimizer"),
])
def test_a_param_changes_the_twin_key_exactly_when_the_report_says_it_is_used(
        tmp_path: Path, enabled: str, learned: bool) -> None:
    """For every trial and every param: another value of it gives another key <=> the report does not mark it
    unused (the report reads the outline the study records, as `sweep report` does)."""
    spec = _spec(tmp_path, enabled=enabled, learned=learned)
    study = optuna.create_study()
    study.set_user_attr("space_outline", outline(spec.space, spec.fixed))
    names = param_names(study)
    values = grid(spec.space, str(spec.path))
    rng = random.Random(0)
    points = list(itertools.product(*values.values()))
    checked = set()
    for point in rng.sample(points, 60):
        params = dict(zip(values, point, strict=True))
        key = config_key(train_request(spec, params))
        unused = names.unused(params)
        for name, choices in values.items():
            for other in choices:
                if other == params[name]:
                    continue
                same = config_key(train_request(spec, {**params, name: other})) == key
                assert same == (name in unused), (name, params[name], other, params)
                checked.add((name, same))
    # the sample covered used and unused values of each kind the rule knows
    assert {("layers.0.neurons", True), ("layers.0.neurons", False), ("layers.1.neurons", True)} <= checked
    assert ("spectrogram.freq_masking", True) in checked and ("learning_rate", learned) in checked


NO_EFFECT_SPACE = """
[space]
learning_rate = { choices = [0.001, 0.01] }
batch_size = 32
training_cycles = 5

[space.augmentation_policy_spectrogram]
enabled = false
freq_masking = { choices = ["none", "high"] }

[[space.layers]]
type = "dense"
neurons = 16

[[space.layers]]
type = "dense"
neurons = { choices = [8, 32] }
repeat = 0

[fixed]
useLearnedOptimizer = true
"""


def test_trials_differing_only_in_values_without_effect_train_once_and_read_unused(tmp_path: Path) -> None:
    """Eight configurations (a grid) that differ only in the learning rate of the learned optimizer, a masking
    level of disabled spectrogram augmentation and the width of a layer repeated 0 times: one job, seven
    reuses; the report marks exactly those values unused."""
    with FakeStudio() as studio:
        path = write_study(tmp_path, studio.base_url, trials=8, space=NO_EFFECT_SPACE, sampler="grid")
        proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        posts = [p for m, p, _ in studio.requests if m == "POST" and "/jobs/train/" in p]
    study = load(tmp_path)
    trials = study.get_trials()
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 8  # eight distinct configurations
    assert len(posts) == 1, proc.stderr
    (trained,) = [t for t in trials if "duplicate_of" not in t.user_attrs]
    assert all(t.user_attrs["duplicate_of"] == trained.number for t in trials if t is not trained)
    names = param_names(study)
    for t in trials:
        assert names.unused(t.params) == set(t.params)
    frame = trials_frame(study, names=names)
    shown = [c for c in frame.columns if c.startswith("params_")]
    assert sorted(shown) == ["params_dense_1.neurons", "params_learning_rate", "params_spectrogram.freq_masking"]
    assert frame[shown].isna().all().all()
