"""Train one local studio job: a real Keras 3 model from visualLayers, then TFLite float32/int8 and metrics.

How request fields are honoured (anything not listed that the local studio cannot do fails the job):
- visualLayers: see sweep/local/validate.py for the layer rules; transfer_* layers -> JobFailed.
- The data: the project's training category only (its testing category, test_split.py, is never read by a
  train job); ``samples.json`` in the job's directory names the sample ids of the training and validation sides.
- trainingCycles / learningRate (Adam) / batchSize / trainTestSplit (validation fraction, stratified
  by label; unstratified with a log note if a class is too small): defaults 30 / 0.005 / 32 / 0.2. The
  split is seeded by the project (``splitSeed``), so all its jobs share one validation set for a given
  trainTestSplit; ``seed`` (the job's training seed) seeds weights, shuffling, dropout, augmentation and
  the int8 calibration rows. The log names both, with a digest of the validation indices.
- autoClassWeights: "balanced" class weights (as sklearn's) on the training split.
- The fit itself (several steps per execution, cancel checks between them, the validation pass behind
  each epoch line): sweep/local/fitting.py.
- augmentationPolicyImage "all" (image projects): random shift, zoom, brightness, plus horizontal
  flip except for projects in augment.NO_FLIP_PROJECTS (digits: a mirrored digit is another glyph).
- augmentationPolicySpectrogram (spectrogram projects): time warping, time/frequency masks and
  Gaussian noise by level (augment.MASKS, augment.NOISE_STDDEV). Either policy on the other
  project kind is not applicable (as in Studio) and is noted in the log.
- selectedModelType -> recommendedModelType (default int8); akida/requiresRetrain -> JobFailed.
- profileInt8 false -> the int8 model is evaluated but not profiled (onDevicePerformance []).
- mode "expert" -> JobFailed unless allow_user_code; then ``script`` must define
  build_model(input_length, classes) -> keras.Model (uncompiled), trained like a visual model.
- useLearnedOptimizer, akida edge learning, customValidationMetadataKey, customParameters,
  blockParameters, kFoldsValidationConfig -> JobFailed (the list: ``validate.refusals``, which a sweep
  also checks a baseline with before any job). minimumConfidenceRating, skipEmbeddingsAndMemory,
  anomalyCapacity, trainingProcessor and UI flags do not change training (no feature-explorer
  embeddings are computed).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from sweep.errors import ApiError, JobFailed
from sweep.local import augment, devices, evaluate, fitting, scores
from sweep.local.datasets import LocalProject, load_rows
from sweep.local.layers import build_model, layer_summary
from sweep.local.validate import plan_layers, refusals, total_macs, validate_request
from sweep.studio.models import (
    KerasModelMetadata,
    KerasModelMetadataGraph,
    KerasModelMetadataGraphSeries,
    ModelMetrics,
    ModelType,
    SetKerasParameterRequest,
)

__all__ = ["DEFAULTS", "train", "validation_digest"]

# Studio's defaults for fields a request leaves out.
DEFAULTS: dict[str, Any] = {"training_cycles": 30, "learning_rate": 0.005, "batch_size": 32,
                            "train_test_split": 0.2}


def _refuse(request: SetKerasParameterRequest, project: LocalProject, allow_user_code: bool) -> list[str]:
    """JobFailed for what the local studio cannot do; returns notes for fields that do not apply here."""
    r = request
    refused = refusals(r, user_code=allow_user_code)
    if refused:
        raise JobFailed(refused[0])
    notes = []
    if r.augmentation_policy_image == "all" and project.kind != "image":
        notes.append(f"augmentationPolicyImage 'all' does not apply to a {project.kind} project (as in Studio)")
    spectrogram = r.augmentation_policy_spectrogram
    if spectrogram is not None and spectrogram.enabled and project.kind != "spectrogram":
        notes.append(f"augmentationPolicySpectrogram does not apply to a {project.kind} project (as in Studio)")
    return notes


def _user_model(script: str, n_features: int, n_classes: int) -> keras.Model:
    namespace: dict[str, Any] = {"keras": keras, "__name__": "sweep_user_script"}
    try:
        exec(compile(script, "<expert script>", "exec"), namespace)
        build = namespace.get("build_model")
        if not callable(build):
            raise JobFailed("expert script must define build_model(input_length, classes) -> keras.Model")
        model = build(n_features, n_classes)
    except JobFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - user code: any error fails the job with its message
        raise JobFailed(f"expert script failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(model, keras.Model):
        raise JobFailed(f"expert script build_model returned {type(model).__name__}, not a keras.Model")
    return model


def _training_model(core: keras.Model, request: SetKerasParameterRequest, project: LocalProject, seed: int,
                    log: Callable[[str], None]) -> keras.Model:
    extra: list[keras.layers.Layer] = []
    if request.augmentation_policy_image == "all" and project.kind == "image":
        flip = project.name not in augment.NO_FLIP_PROJECTS
        extra = augment.image_layers(flip=flip, seed=seed)
        flipped = ", horizontal flip" if flip else f" (no flip for {project.name})"
        log(f"Image augmentation: shift, zoom, brightness{flipped}")
    policy = request.augmentation_policy_spectrogram
    if policy is not None and policy.enabled and project.kind == "spectrogram":
        extra = augment.spectrogram_layers(policy, seed=seed)
        log(f"Spectrogram augmentation: {policy.wire()}")
    if not extra:
        return core
    shape = project.input_shape if len(project.input_shape) == 3 else (*project.input_shape, 1)
    n = math.prod(project.input_shape)
    return keras.Sequential([keras.Input((n,)), keras.layers.Reshape(shape), *extra,
                             keras.layers.Reshape((n,)), core], name="sweep_local_training")


def _graphs(history: dict[str, list[float]]) -> list[KerasModelMetadataGraph]:
    out = []
    for name in ("loss", "accuracy"):
        series = [KerasModelMetadataGraphSeries(title=k, values=[float(v) for v in history[k]])
                  for k in (name, f"val_{name}") if k in history]
        out.append(KerasModelMetadataGraph(title=name, x_label="epoch", y_label=name, data=series))
    return out


def _split(y: np.ndarray, split: float, split_seed: int, log: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices): a stratified split seeded by the project, not by the job, so every
    job of a project (for one trainTestSplit) is scored on the same samples; unstratified if a class is too small."""
    try:
        return scores.split_indices(len(y), split, split_seed, stratify=y)
    except ValueError:
        log("Note: a class is too small to stratify the validation split; splitting at random")
        return scores.split_indices(len(y), split, split_seed)


def _split_by_sample(y: np.ndarray, groups: np.ndarray, split: float, split_seed: int, log: Callable[[str], None]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The split of :func:`_split` over samples, each sample's windows on one side (none leaks into validation)."""
    samples, first = np.unique(groups, return_index=True)
    tr_s, val_s = _split(y[first], split, split_seed, log)
    return np.flatnonzero(np.isin(groups, samples[tr_s])), np.flatnonzero(np.isin(groups, samples[val_s]))


def validation_digest(val: np.ndarray) -> str:
    """A short hash of the validation sample indices (as a set): equal digests, the same validation samples."""
    return hashlib.sha256(np.sort(val).astype("<i8").tobytes()).hexdigest()[:16]


def _convert_and_evaluate(core: keras.Model, r: SetKerasParameterRequest, project: LocalProject,
                          data: tuple[np.ndarray, np.ndarray, np.ndarray], macs: int, workdir: Path, seed: int,
                          cancelled: Callable[[], bool], log: Callable[[str], None]) -> list[ModelMetrics]:
    """The float32 and int8 TFLite models (written to ``workdir``), each evaluated on the validation split."""
    x_tr, x_val, y_val = data
    t1 = time.monotonic()
    float_model, int8_model = evaluate.convert(core, x_tr, seed)
    (workdir / "model_float32.tflite").write_bytes(float_model)
    (workdir / "model_int8.tflite").write_bytes(int8_model)
    if cancelled():
        raise JobFailed("cancelled")
    profile_int8 = r.profile_int8 is not False
    metrics = []
    for mt, tfl in ((ModelType.FLOAT32, float_model), (ModelType.INT8, int8_model)):
        ev = evaluate.evaluate_tflite(tfl, x_val, y_val, project.labels)
        perf = (devices.on_device_performance(mt.value, model_bytes=ev.model_bytes, macs=macs,
                                              arena_bytes=ev.arena_bytes)
                if (mt is ModelType.FLOAT32 or profile_int8) and macs else [])
        metrics.append(ModelMetrics(type=mt, loss=ev.loss, accuracy=ev.accuracy, confusion_matrix=ev.confusion,
                                    report=ev.report, on_device_performance=perf))
        log(f"{mt.value} model: accuracy {ev.accuracy:.4f}, loss {ev.loss:.4f}, {ev.model_bytes} bytes")
    if not profile_int8:
        log("profileInt8 is false: no on-device estimates for the int8 model")
    log(f"Converted and evaluated in {time.monotonic() - t1:.1f} s")
    return metrics


def _data(project: LocalProject, split: float, log: Callable[[str], None], workdir: Path
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_val, y_val), flat features, from the project's training category only (its testing
    category is never read here); the log says the sizes and which validation samples, and ``samples.json`` in
    ``workdir`` names the sample ids each side used."""
    rows = load_rows(project, "training")
    x, y = rows.x, rows.y
    if rows.windows:  # windows of a raw project's samples: split by sample
        tr, val = _split_by_sample(y, rows.samples, split, project.split_seed, log)
    else:
        tr, val = _split(y, split, project.split_seed, log)
    x = x.reshape(len(x), math.prod(project.input_shape))
    held = len(project.test_split.samples) if project.test_split is not None else 0
    log(f"Dataset {project.name}: {len(tr)} training, {len(val)} validation samples, {len(project.labels)} classes"
        f" ({held} testing samples held out, never read by a train job)")
    log(f"Validation split: {len(val)} samples, split seed {project.split_seed}, "
        f"indices sha256 {validation_digest(val)}")
    used = {side: sorted({int(v) for v in rows.samples[at]}) for side, at in (("training", tr), ("validation", val))}
    (workdir / "samples.json").write_text(json.dumps(used))
    return x[tr], y[tr], x[val], y[val]


def _class_weight(request: SetKerasParameterRequest, project: LocalProject, y_tr: np.ndarray,
                  log: Callable[[str], None]) -> dict[int, float] | None:
    if not request.auto_class_weights:
        return None
    w = scores.balanced_class_weight(len(project.labels), y_tr)
    class_weight = {i: float(v) for i, v in enumerate(w)}
    log("Class weights: " + ", ".join(f"{project.labels[i]}={v:.3f}" for i, v in class_weight.items()))
    return class_weight


def train(request: SetKerasParameterRequest, project: LocalProject, *, workdir: Path, log: Callable[[str], None],
          cancelled: Callable[[], bool], seed: int = 0, allow_user_code: bool = False) -> KerasModelMetadata:
    """Train, convert and evaluate; writes model.keras, model_float32.tflite, model_int8.tflite into workdir."""
    try:
        validate_request(request, project)
    except ApiError as exc:
        raise JobFailed(exc.message) from None
    for note in _refuse(request, project, allow_user_code):
        log(f"Note: {note}")
    r = request
    epochs = r.training_cycles or DEFAULTS["training_cycles"]
    lr = r.learning_rate or DEFAULTS["learning_rate"]
    batch = r.batch_size or DEFAULTS["batch_size"]
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    x_tr, y_tr, x_val, y_val = _data(project, r.train_test_split or DEFAULTS["train_test_split"], log, workdir)
    n_classes, n_features = len(project.labels), x_tr.shape[1]
    log(f"Training seed {seed}")
    keras.utils.set_random_seed(seed)
    steps = [] if r.mode == "expert" else plan_layers(r.visual_layers or [], project.input_shape, n_classes)
    core = (_user_model(r.script or "", n_features, n_classes) if r.mode == "expert"
            else build_model(steps, n_features, seed))
    model = _training_model(core, r, project, seed, log)
    class_weight = _class_weight(r, project, y_tr, log)
    log(f"Training {core.count_params()} parameters: {epochs} epochs, learning rate {lr}, batch size {batch}")
    progress = fitting.Progress(log, cancelled, epochs, core, (x_val, y_val))
    t0 = time.monotonic()
    try:
        history = fitting.fit(model, progress, (x_tr, y_tr), epochs=epochs, batch=batch, learning_rate=lr,
                              class_weight=class_weight, macs=total_macs(steps))
    except JobFailed:
        log("Training cancelled")
        raise
    if progress.was_cancelled or cancelled():
        raise JobFailed("cancelled")
    log(f"Finished training in {time.monotonic() - t0:.1f} s")
    core.save(workdir / "model.keras")
    metrics = _convert_and_evaluate(core, r, project, (x_tr, x_val, y_val), total_macs(steps), workdir, seed,
                                    cancelled, log)
    return KerasModelMetadata(
        created=datetime.now(UTC), layers=layer_summary(core), class_names=list(project.labels),
        labels=list(project.labels), available_model_types=[ModelType.FLOAT32, ModelType.INT8],
        recommended_model_type=r.selected_model_type or ModelType.INT8, model_validation_metrics=metrics,
        has_trained_model=True, mode="classification", tensorboard_graphs=_graphs(history),
    )
