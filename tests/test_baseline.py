"""The baseline trains exactly what the source learn block holds, as far as a train request carries it.

The official client (``edgeimpulse_api``) is the oracle: the fields a saved configuration (``KerasResponse``)
shares with the train request (``SetKerasParameterRequest``) all travel, and an expert-mode block's script
trains with its own settings. The runs themselves: ``test_baseline_runs.py``.
"""

from __future__ import annotations

from typing import Any

import edgeimpulse_api as ei

from sweep.studio.models import KerasResponse
from sweep.study.saved import VISUAL_ONLY, left_behind, request_fields, saved_request

# A visual-mode block as Studio answers it, with a value in every field the train request shares with it.
# ``blockParameters`` and threshold values are left out of what the official client parses: its oneOf
# models match any object (blockParameters) and any number-or-string (a threshold's value) twice, so it
# refuses every one of them.
STUDIO_ANSWER: dict[str, Any] = {
    "success": True, "trained": True, "name": "NN Classifier", "type": "keras", "script": "# generated from the layers",
    "dependencies": {"classes": ["no", "yes"], "blockNames": ["MFE"], "featureCount": 3960, "sampleCount": 600,
                     "outputClasses": ["no", "yes"]},
    "minimumConfidenceRating": 0.7, "selectedModelType": "float32", "mode": "visual",
    "visualLayers": [{"type": "reshape", "columns": 40}, {"type": "conv1d", "neurons": 8, "kernelSize": 3}],
    "trainingCycles": 17, "learningRate": 0.0042, "batchSize": 24, "defaultBatchSize": 32, "shape": "(3960,)",
    "trainTestSplit": 0.25, "autoClassWeights": True, "useLearnedOptimizer": True, "augmentationPolicyImage": "none",
    "augmentationPolicySpectrogram": {"enabled": True, "warping": False, "freqMasking": "low", "timeMasking": "high",
                                      "gaussianNoise": "none"},
    "transferLearningModels": [], "profileInt8": False, "skipEmbeddingsAndMemory": True,
    "akidaEdgeLearningConfig": {"enabled": False, "additionalClasses": 2, "neuronsPerClass": 3},
    "customValidationMetadataKey": "speaker", "showAdvancedTrainingSettings": True,
    "showAugmentationTrainingSettings": False, "customParameters": {"dropout": "0.1"}, "anomalyCapacity": "medium",
    "lastShownModelVariant": "float32", "thresholds": [],
    "kFoldsValidationConfig": {"numFolds": 5, "includeFinalTrainingRun": True}, "isMultiHead": False,
}
BLOCK_PARAMETERS = {"backbone": "mobilenet", "numLayers": 2}


def _official_props(model: Any) -> set[str]:
    return set(model._SetKerasParameterRequest__properties if model is ei.SetKerasParameterRequest
               else model._KerasResponse__properties)


def test_our_train_request_has_every_field_of_the_official_one() -> None:
    """The baseline copies the fields of our request model: it must name all of the official one's."""
    assert request_fields() == _official_props(ei.SetKerasParameterRequest)


def test_the_baseline_carries_every_saved_field_a_train_request_has() -> None:
    assert ei.KerasResponse.from_dict(STUDIO_ANSWER).to_dict() == STUDIO_ANSWER  # a well-formed Studio answer
    answer = {**STUDIO_ANSWER, "blockParameters": BLOCK_PARAMETERS}
    sent = saved_request(KerasResponse.model_validate(answer)).wire()
    shared = _official_props(ei.SetKerasParameterRequest) & _official_props(ei.KerasResponse)
    missing = sorted(shared - set(STUDIO_ANSWER) - {"blockParameters"})
    assert not missing, f"the official models share new fields: give them a value in STUDIO_ANSWER: {missing}"
    # every shared field travels as saved, but the visual block's script (Studio's rendering of the layers)
    assert {k: sent.get(k) for k in shared - {"script"}} == {k: answer[k] for k in shared - {"script"}}
    assert "script" not in sent and "thresholds" not in sent and "dependencies" not in sent
    official = ei.SetKerasParameterRequest.from_dict({k: v for k, v in sent.items() if k != "blockParameters"})
    assert {k: v for k, v in official.to_dict().items() if v is not None} == {
        k: v for k, v in sent.items() if k != "blockParameters"}


def test_an_expert_block_trains_its_script_with_its_own_settings() -> None:
    """Studio answers an expert-mode block's trainingCycles and learningRate as 0 and its layers as []: they are
    "only in visual mode", so the baseline sends the script and mode, not zeros."""
    answer = {**STUDIO_ANSWER, "mode": "expert", "script": "import tensorflow as tf\nEPOCHS = args.epochs or 30\n",
              "visualLayers": [], "trainingCycles": 0, "learningRate": 0.0}
    answer.pop("batchSize")
    ei.KerasResponse.from_dict(answer)  # Studio's answer for such a block
    sent = saved_request(KerasResponse.model_validate(answer)).wire()
    assert sent["mode"] == "expert" and sent["script"] == answer["script"]
    assert not set(VISUAL_ONLY) & set(sent), sent
    assert sent["useLearnedOptimizer"] is True and sent["customParameters"] == {"dropout": "0.1"}


def test_a_visual_block_without_a_batch_size_trains_with_its_default() -> None:
    answer = {k: v for k, v in STUDIO_ANSWER.items() if k != "batchSize"}
    assert saved_request(KerasResponse.model_validate(answer)).batch_size == 32


def test_thresholds_are_named_as_left_behind() -> None:
    threshold = {"key": "minConfidenceRating", "description": "Minimum confidence", "helpText": "", "value": 0.6}
    held = KerasResponse.model_validate({**STUDIO_ANSWER, "thresholds": [threshold]})
    assert left_behind(held) == ["thresholds"]
    assert left_behind(KerasResponse.model_validate(STUDIO_ANSWER)) == []  # nothing held: nothing to say
