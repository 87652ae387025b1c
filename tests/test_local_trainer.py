"""trainer.py: real small Keras trainings on the shipped projects, refusals, cancel, official metadata shape."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from edgeimpulse_api.models.keras_model_metadata import (
    KerasModelMetadata as OfficialMetadata,
)

from sweep.errors import JobFailed
from sweep.local import datasets, trainer
from sweep.studio.models import (
    AugmentationPolicySpectrogram,
    KerasModelMetadata,
    SetKerasParameterRequest,
)

EPOCH_LINE = re.compile(r"^loss: [\d.]+ - accuracy: [\d.]+ - val_loss: [\d.]+ - val_accuracy: [\d.]+$")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("data")
    datasets.ensure_default_projects(d)
    return d


def _train(data_dir: Path, tmp_path: Path, project_id: int, body: dict, **kw: object
           ) -> tuple[KerasModelMetadata, list[str]]:
    lines: list[str] = []
    req = SetKerasParameterRequest.model_validate(body)
    meta = trainer.train(req, datasets.get_project(data_dir, project_id), workdir=tmp_path / "job", log=lines.append,
                         cancelled=lambda: False, **kw)
    return meta, lines


def _check_common(meta: KerasModelMetadata, lines: list[str], tmp_path: Path, epochs: int, n_classes: int) -> None:
    official = OfficialMetadata.from_dict(json.loads(json.dumps(meta.wire())))
    assert official.has_trained_model and [m.type for m in official.model_validation_metrics] == ["float32", "int8"]
    assert meta.created.tzinfo is not None and len(meta.class_names) == n_classes
    for name in ("model_float32.tflite", "model_int8.tflite", "model.keras"):
        assert (tmp_path / "job" / name).stat().st_size > 0
    assert [ln for ln in lines if ln.startswith("Epoch ")] == [f"Epoch {i}/{epochs}" for i in range(1, epochs + 1)]
    assert sum(bool(EPOCH_LINE.match(ln)) for ln in lines) == epochs
    curves = {s.title: s.values for g in meta.tensorboard_graphs or [] for s in g.data}
    assert set(curves) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == epochs for v in curves.values())
    for m in meta.model_validation_metrics:
        cm = np.array(m.confusion_matrix)
        assert cm.shape == (n_classes, n_classes)
        assert m.accuracy == pytest.approx(np.trace(cm) / cm.sum())
        supports = [m.report[c]["support"] for c in meta.class_names]
        assert cm.sum(axis=1).tolist() == supports  # rows = true class
        assert m.loss > 0 and "macro avg" in m.report


def test_digits_dense_class_weights_no_int8_profile(data_dir: Path, tmp_path: Path) -> None:
    meta, lines = _train(data_dir, tmp_path, 1, {
        "visualLayers": [{"type": "dense", "neurons": 32}], "trainingCycles": 4, "learningRate": 0.01,
        "autoClassWeights": True, "profileInt8": False, "selectedModelType": "float32"})
    _check_common(meta, lines, tmp_path, 4, 10)
    f32, i8 = meta.model_validation_metrics
    assert f32.accuracy > 0.8 and i8.accuracy > 0.7
    assert meta.recommended_model_type.value == "float32"
    assert [p.mcu for p in f32.on_device_performance][1] == "cortex-m4f-80mhz" and i8.on_device_performance == []
    assert f32.on_device_performance[1].tflite.model_size == (tmp_path / "job" / "model_float32.tflite").stat().st_size
    assert any(ln.startswith("Class weights:") for ln in lines)


def test_digits_conv2d_dropout_batchnorm_image_augmentation(data_dir: Path, tmp_path: Path) -> None:
    meta, lines = _train(data_dir, tmp_path, 1, {
        "visualLayers": [{"type": "conv2d", "neurons": 8, "kernelSize": 3, "stack": 1}, {"type": "batchNormalization"},
                         {"type": "flatten"}, {"type": "dropout", "dropoutRate": 0.25}],
        "trainingCycles": 3, "learningRate": 0.01, "augmentationPolicyImage": "all"})
    _check_common(meta, lines, tmp_path, 3, 10)
    f32, i8 = meta.model_validation_metrics
    assert f32.accuracy > 0.3
    assert any("no flip for digits" in ln for ln in lines)
    p32 = next(p for p in f32.on_device_performance if p.is_default)
    p8 = next(p for p in i8.on_device_performance if p.is_default)
    assert p8.tflite.model_size < p32.tflite.model_size and p8.tflite.arena_size < p32.tflite.arena_size
    assert p8.latency < p32.latency


def test_keywords_conv1d_reshape_spectrogram_augmentation(data_dir: Path, tmp_path: Path) -> None:
    policy = {"enabled": True, "warping": True, "freqMasking": "high", "timeMasking": "low", "gaussianNoise": "high"}
    meta, lines = _train(data_dir, tmp_path, 2, {
        "visualLayers": [{"type": "reshape", "columns": 16}, {"type": "conv1d", "neurons": 8, "kernelSize": 3},
                         {"type": "conv1d", "neurons": 16, "kernelSize": 3}, {"type": "flatten"}],
        "trainingCycles": 6, "learningRate": 0.005, "augmentationPolicySpectrogram": policy,
        "augmentationPolicyImage": "all"})
    _check_common(meta, lines, tmp_path, 6, 4)
    assert meta.model_validation_metrics[0].accuracy > 0.5  # 4 classes: chance is 0.25
    assert any(ln.startswith("Spectrogram augmentation") for ln in lines)
    assert any("augmentationPolicyImage 'all' does not apply" in ln for ln in lines)


def test_augmentation_layers_only_act_in_training() -> None:
    from sweep.local import augment

    x = np.random.default_rng(0).random((4, 32, 16, 1)).astype(np.float32)
    policy = AugmentationPolicySpectrogram(enabled=True, warping=True, freq_masking="high", time_masking="high",
                                           gaussian_noise="none")
    for layer in augment.spectrogram_layers(policy, seed=1):
        assert np.array_equal(np.asarray(layer(x, training=False)), x)
        assert not np.array_equal(np.asarray(layer(x, training=True)), x)
    assert augment.spectrogram_layers(AugmentationPolicySpectrogram(enabled=False), seed=1) == []


@pytest.mark.parametrize(("body", "fragment"), [
    ({"visualLayers": [{"type": "transfer_mobilenetv2_a35"}]}, "transfer"),
    ({"mode": "expert", "script": "print(1)"}, "expert"),
    ({"selectedModelType": "akida"}, "akida"),
    ({"useLearnedOptimizer": True}, "useLearnedOptimizer"),
    ({"learningRate": 2.0}, "learningRate"),
])
def test_refusals(data_dir: Path, tmp_path: Path, body: dict, fragment: str) -> None:
    with pytest.raises(JobFailed, match=fragment):
        _train(data_dir, tmp_path, 1, body)
    assert not (tmp_path / "job" / "model.keras").exists()


def test_expert_script_when_user_code_allowed(data_dir: Path, tmp_path: Path) -> None:
    script = ("def build_model(input_length, classes):\n"
              "    return keras.Sequential([keras.Input((input_length,)), keras.layers.Dense(classes, "
              "activation='softmax')])\n")
    meta, lines = _train(data_dir, tmp_path, 1, {"mode": "expert", "script": script, "trainingCycles": 2},
                         allow_user_code=True)
    _check_common(meta, lines, tmp_path, 2, 10)


def test_cancel_stops_within_seconds(data_dir: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    start: list[float] = []

    def cancelled() -> bool:
        if not start and any(ln.startswith("Epoch 2/") for ln in lines):
            start.append(time.monotonic())
        return bool(start)

    req = SetKerasParameterRequest.model_validate({"visualLayers": [{"type": "dense", "neurons": 32}],
                                                   "trainingCycles": 2000})
    with pytest.raises(JobFailed, match="cancelled"):
        trainer.train(req, datasets.get_project(data_dir, 1), workdir=tmp_path / "job", log=lines.append,
                      cancelled=cancelled)
    assert time.monotonic() - start[0] < 10  # 2000 epochs would take many minutes
    assert not any(ln.startswith("Epoch 3/") for ln in lines)
    assert not (tmp_path / "job" / "model_int8.tflite").exists()


def test_steps_per_execution_are_bounded_by_work_steps_and_the_epoch() -> None:
    from sweep.local.fitting import EXECUTION_FLOP, MAX_STEPS_PER_EXECUTION, steps_per_execution

    assert steps_per_execution(2368, 32, 45) == 45  # the digits' dense model: one execution an epoch
    assert steps_per_execution(2368, 1, 1437) == MAX_STEPS_PER_EXECUTION
    heavy = int(EXECUTION_FLOP // (6 * 32 * 10))  # 10 steps of this model's work fill an execution
    assert steps_per_execution(heavy, 32, 1000) == 10
    assert steps_per_execution(10**9, 32, 1000) == 1 and steps_per_execution(0, 32, 1000) == 1  # 0: unknown


def test_a_cancel_is_seen_between_executions_within_an_epoch(data_dir: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    checks: list[float] = []

    def cancelled() -> bool:  # the second check says yes: the first execution of epoch 1 has run
        checks.append(time.monotonic())
        return len(checks) >= 2

    req = SetKerasParameterRequest.model_validate({"visualLayers": [{"type": "dense", "neurons": 32}],
                                                   "trainingCycles": 5, "batchSize": 1})  # 1437 steps an epoch
    with pytest.raises(JobFailed, match="cancelled"):
        trainer.train(req, datasets.get_project(data_dir, 1), workdir=tmp_path / "job", log=lines.append,
                      cancelled=cancelled)
    assert "Steps per execution: 100 (cancel checked after each)" in lines
    assert not any(ln.startswith("Epoch 2/") for ln in lines) and lines[-1] == "Training cancelled"
    assert len(checks) == 2 and checks[1] - checks[0] < 10  # one execution of 100 steps: well under a second


def test_the_epoch_lines_validation_is_what_keras_evaluate_says(data_dir: Path, tmp_path: Path) -> None:
    import keras

    meta, lines = _train(data_dir, tmp_path, 1, {
        "visualLayers": [{"type": "conv2d", "neurons": 8, "kernelSize": 3}, {"type": "batchNormalization"},
                         {"type": "flatten"}, {"type": "dropout", "dropoutRate": 0.3}],
        "trainingCycles": 2, "learningRate": 0.01, "batchSize": 64}, seed=3)
    project = datasets.get_project(data_dir, 1)
    x, y = datasets.load_arrays(project)
    _, val = trainer._split(y, 0.2, project.split_seed, lines.append)
    model = keras.models.load_model(tmp_path / "job" / "model.keras")
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, accuracy = model.evaluate(x.reshape(len(x), -1)[val], y[val], batch_size=32, verbose=0)
    last = [ln for ln in lines if EPOCH_LINE.match(ln)][-1]
    assert last.endswith(f"val_loss: {loss:.4f} - val_accuracy: {accuracy:.4f}")
    curves = {s.title: s.values for g in meta.tensorboard_graphs or [] for s in g.data}
    assert curves["val_loss"][-1] == pytest.approx(loss, rel=1e-5)
    assert curves["val_accuracy"][-1] == pytest.approx(accuracy, abs=1e-6)
