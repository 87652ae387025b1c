"""Bodies of the local studio's descriptive answers: project info, impulse, learn block config."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sweep.local.datasets import LocalProject, sample_count, stored_at, total_length_ms
from sweep.local.devices import DEFAULT_DEVICE, DEVICES

__all__ = ["DataSummary", "block_ids", "data_summary", "dsp_body", "impulse_body", "keras_body", "latency_devices",
           "project_body", "project_info_body"]

_CREATED = "2026-01-01T00:00:00+00:00"


def block_ids(project: LocalProject) -> tuple[int, int]:
    """Ids of the input and DSP blocks, distinct from the learn block ids."""
    taken = set(project.learn_block_ids)
    free = [i for i in range(1, max(taken, default=0) + 3) if i not in taken]
    return free[0], free[1]


def _next_month(start: datetime) -> datetime:
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


_USER = {"id": 1, "username": "local", "name": "Local studio", "email": "local@localhost", "created": _CREATED,
         "staffInfo": {"isStaff": False, "hasSudoRights": False}, "pending": False, "activated": True,
         "mfaConfigured": False}


@dataclass(frozen=True)
class DataSummary:
    """What a project holds: its samples, their length together (ms; 0 for features, which have no duration) and
    when they were stored."""

    count: int
    length_ms: float
    stored: datetime


def data_summary(project: LocalProject) -> DataSummary:
    """The project's ``DataSummary``, read from its files."""
    return DataSummary(sample_count(project), total_length_ms(project), stored_at(project))


def project_body(project: LocalProject, created: datetime) -> dict[str, Any]:
    """An official ``Project`` (as project info and ``GET /api/projects`` carry it); ``created``: when its samples
    were stored."""
    return {
        "id": project.id, "name": project.name, "description": f"Local {project.kind} project {project.name}",
        "created": created.isoformat(), "owner": "local", "ownerIsDeveloperProfile": True,
        "collaborators": [{**_USER, "isOwner": True}], "labelingMethod": "single_label", "metadata": {},
        "isEnterpriseProject": False, "whitelabelId": 1, "tier": "professional", "hasPublicVersion": False,
        "isPublic": False, "allowsLivePublicAccess": False, "indPauseProcessingSamples": False,
        "publicProjectListed": False,
    }


def latency_devices() -> list[dict[str, Any]]:
    """Official ``LatencyDevice`` entries for the devices the local studio estimates (``devices.DEVICES``).

    The four latencies are the estimate's milliseconds per million multiply-accumulates (the estimate does not
    tell convolutions from dense layers, so the ``Conv`` figures are the same).
    """
    out = []
    for d in DEVICES:
        int8 = round(d.cycles_per_mac_int8 * 1e6 / d.clock_hz * 1000.0, 4)
        float32 = round(d.cycles_per_mac_float32 * 1e6 / d.clock_hz * 1000.0, 4)
        out.append({"mcu": d.mcu, "name": d.name, "selected": d.mcu == DEFAULT_DEVICE, "int8Latency": int8,
                    "int8ConvLatency": int8, "float32Latency": float32, "float32ConvLatency": float32,
                    "helpText": "local studio estimate from model arithmetic (docs/device-estimates.md), "
                                "not a measurement"})
    return out


def project_info_body(project: LocalProject, data: DataSummary, *, period_start: datetime, used_ms: int,
                      quota_ms: int, job_limit_m: int) -> dict[str, Any]:
    """A ``ProjectInfoResponse`` the official model parses; quota, job limit and the data summary (``data``) are
    real (every sample of a local project is training data: it holds out its validation split from them)."""
    labels = list(project.labels)
    summary = {"totalLengthMs": data.length_ms, "labels": labels, "totalLabels": len(labels),
               "dataCount": data.count}
    empty = {"totalLengthMs": 0.0, "labels": [], "totalLabels": 0, "dataCount": 0}
    user = _USER
    return {
        "success": True,
        "project": project_body(project, data.stored),
        "developmentKeys": {},
        "impulse": {"created": True, "configured": True, "complete": True},
        "devices": [],
        "dataSummary": summary,
        "dataSummaryPerCategory": {"training": summary, "testing": empty, "validation": empty,
                                   "postProcessing": empty},
        "computeTime": {"periodStartDate": period_start.isoformat(),
                        "periodEndDate": _next_month(period_start).isoformat(),
                        "timeUsedMs": used_ms, "timeLeftMs": max(0, quota_ms - used_ms)},
        "acquisitionSettings": {"intervalMs": 0.0, "lengthMs": 0, "segmentShift": False, "defaultPageSize": 50,
                                "viewType": "list", "gridColumnCount": 4, "gridColumnCountDetailed": 2,
                                "showExactSampleLength": False, "inlineEditBoundingBoxes": False},
        "collaborators": [user],
        "deploySettings": {"eonCompiler": True, "sensor": "camera" if project.kind == "image" else "microphone",
                           "arduinoLibraryName": project.name, "tinkergenLibraryName": project.name,
                           "particleLibraryName": project.name},
        "experiments": [],
        "latencyDevices": latency_devices(),
        "urls": {},
        "showCreateFirstImpulse": False,
        "showGettingStartedWizard": {"showWizard": False, "step": 0},
        "performance": {"gpu": False, "jobLimitM": job_limit_m, "dspFileSizeMb": 0, "enterprisePerformance": False,
                        "trainJobRamMb": 4096},
        "trainJobNotificationUids": [], "dspJobNotificationUids": [], "modelTestingJobNotificationUids": [],
        "exportJobNotificationUids": [],
        "hasNewTrainingData": False,
        "studioUrl": "http://127.0.0.1/",
        "inPretrainedModelFlow": False,
        "showSensorDataInAcquisitionGraph": False,
        "notifications": [],
        "defaultImpulseId": project.impulse_id,
    }


def impulse_body(project: LocalProject) -> dict[str, Any]:
    """A ``GetImpulseResponse``: one input block, one DSP block, the project's learn blocks."""
    input_id, dsp_id = block_ids(project)
    image = project.kind == "image"
    shape = list(project.input_shape)
    input_block: dict[str, Any] = {"id": input_id, "type": "image" if image else "time-series",
                                   "name": "Image data" if image else "Time series data",
                                   "title": "Image data" if image else "Time series data"}
    if image and len(shape) >= 2:
        input_block.update(imageWidth=int(shape[1]), imageHeight=int(shape[0]), resizeMode="squash")
    elif project.kind == "raw" and project.frequency_hz:  # the window covers a whole sample (its longest)
        length_ms = max(1, round(project.input_shape[0] * 1000 / project.frequency_hz))
        input_block.update(axes=list(project.axes or ()), windowSizeMs=length_ms, windowIncreaseMs=length_ms // 2,
                           frequencyHz=float(project.frequency_hz), padZeros=True)
    elif not image:
        input_block.update(axes=["audio"], windowSizeMs=1000, windowIncreaseMs=500, frequencyHz=16000.0,
                           padZeros=True)
    dsp = {"id": dsp_id, "type": "image" if image else "mfe", "name": "Image" if image else "MFE",
           "axes": ["image"] if image else ["audio"], "title": "Image" if image else "Audio (MFE)",
           "input": input_id, "implementationVersion": 1}
    if project.kind == "raw" and list(project.axes or ()) != ["audio"]:  # motion and other time series
        dsp.update(type="spectral-analysis", name="Spectral features", title="Spectral analysis",
                   axes=list(project.axes or ()))
    learn = [{"id": lid, "type": "keras", "name": _learn_name(project, lid), "dsp": [dsp_id],
              "title": "Classification"} for lid in project.learn_block_ids]
    return {"success": True, "impulse": {"id": project.impulse_id, "name": "Impulse #1", "type": "default",
                                         "inputBlocks": [input_block], "dspBlocks": [dsp],
                                         "learnBlocks": learn, "postProcessingBlocks": []}}


def _learn_name(project: LocalProject, learn_id: int) -> str:
    index = project.learn_block_ids.index(learn_id) if learn_id in project.learn_block_ids else 0
    return "NN Classifier" if index == 0 else f"NN Classifier {index + 1}"


# Train request fields a KerasResponse also carries, answered as saved when the block holds them.
_REQUEST_ONLY_ANSWERED = ("augmentationPolicySpectrogram", "useLearnedOptimizer", "akidaEdgeLearningConfig",
                          "customValidationMetadataKey", "customParameters", "anomalyCapacity", "lastShownModelVariant",
                          "blockParameters", "kFoldsValidationConfig")


def keras_body(project: LocalProject, learn_id: int, config: dict[str, Any], trained: bool, *,
               inputs: tuple[list[str], int, int], name: str | None = None) -> dict[str, Any]:
    """A ``KerasResponse`` from the block's saved configuration; ``inputs``: what the block trains on
    (``FeatureBook.inputs``: its DSP blocks' names, their windows, features a window); ``name``: the block's, from
    its impulse."""
    confidence = float(config.get("minimumConfidenceRating", 0.6))
    names, windows, features = inputs
    body = {
        "success": True,
        "dependencies": {"classes": list(project.labels), "blockNames": names, "featureCount": features,
                         "sampleCount": windows, "outputClasses": list(project.labels)},
        "trained": trained,
        "name": name or _learn_name(project, learn_id),
        "type": "keras",
        "script": config.get("script", ""),
        "minimumConfidenceRating": confidence,
        "selectedModelType": config.get("selectedModelType", "int8"),
        "mode": config.get("mode", "visual"),
        "visualLayers": config.get("visualLayers", []),
        "trainingCycles": config.get("trainingCycles", 30),
        "learningRate": config.get("learningRate", 0.005),
        "batchSize": config.get("batchSize", 32),
        "defaultBatchSize": 32,
        "shape": "(" + ", ".join(str(d) for d in project.input_shape) + ")",
        "trainTestSplit": config.get("trainTestSplit", 0.2),
        "autoClassWeights": config.get("autoClassWeights", False),
        "augmentationPolicyImage": config.get("augmentationPolicyImage", "none"),
        "profileInt8": config.get("profileInt8", True),
        "skipEmbeddingsAndMemory": config.get("skipEmbeddingsAndMemory", False),
        "transferLearningModels": [],
        "showAdvancedTrainingSettings": bool(config.get("showAdvancedTrainingSettings", False)),
        "showAugmentationTrainingSettings": bool(config.get("showAugmentationTrainingSettings", False)),
        # the official client cannot parse a numeric BlockThresholdValue (float and str both match)
        "thresholds": [],
    }
    # the rest of what the block holds (useLearnedOptimizer, customParameters, kFoldsValidationConfig, ...), as saved
    body.update({k: v for k, v in config.items() if k not in body and k in _REQUEST_ONLY_ANSWERED})
    if body["mode"] == "expert":  # as Studio answers an expert-mode block: its script sets these
        body.update(visualLayers=[], trainingCycles=0, learningRate=0.0)
    return body




def dsp_body(project: LocalProject, impulse: dict[str, Any], dsp: dict[str, Any], *, generated: bool,
             count: int | None, samples: int, config: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A ``DSPConfigResponse`` of a DSP block: its info, feature state and settable parameters (``config``:
    a raw project's block's; none for features shipped or imported precomputed)."""
    inputs = {b["id"]: b for b in impulse.get("inputBlocks") or []}
    window = inputs.get(dsp.get("input"), {})
    features: dict[str, Any] = {"generated": generated}
    if generated:
        features.update(count=count, classes=list(project.labels))
    info = {"id": dsp["id"], "name": dsp.get("name") or dsp["type"],
            "windowLength": int(window.get("windowSizeMs") or 0), "type": dsp["type"],
            "classes": list(project.labels), "features": features, "expectedWindowCount": samples,
            "inputAxes": list(dsp.get("axes") or []), "canCalculateFeatureImportance": False,
            "calculateFeatureImportance": False, "canNormalizeData": False, "normalizeData": "none"}
    return {"success": True, "dsp": info, "config": list(config or [])}
