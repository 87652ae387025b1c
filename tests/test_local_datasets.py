"""datasets.py and validate.py: default projects, imports, request checks (no training)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sweep.errors import ApiError, LocalStudioError
from sweep.local import datasets, featureimport
from sweep.local.validate import plan_layers, total_macs, validate_request
from sweep.studio.models import SetKerasParameterRequest, VisualLayer


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("data")
    datasets.ensure_default_projects(d)
    return d


def test_default_projects(data_dir: Path) -> None:
    before = (data_dir / "projects" / "1" / "X.npy").stat().st_mtime_ns
    datasets.ensure_default_projects(data_dir)  # idempotent: nothing rewritten
    assert (data_dir / "projects" / "1" / "X.npy").stat().st_mtime_ns == before
    digits, keywords, raw = datasets.list_projects(data_dir)
    assert (raw.id, raw.name, raw.kind, raw.learn_block_ids) == (3, "keywords-raw", "raw", [6])
    assert (digits.id, digits.name, digits.learn_block_ids, digits.impulse_id) == (1, "digits", [3, 4], 1)
    assert (keywords.id, keywords.name, keywords.learn_block_ids, keywords.kind) == (2, "keywords", [5], "spectrogram")
    x, y = datasets.load_arrays(digits, None)  # every sample; a train job reads the training category only
    assert x.shape == (1797, 8, 8, 1) and x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
    assert sorted(set(y.tolist())) == list(range(10)) and digits.labels == [str(i) for i in range(10)]
    assert len(datasets.load_arrays(digits)[0]) == 1797 - 360 and len(datasets.load_arrays(digits, "testing")[0]) == 360
    kx, ky = datasets.load_arrays(keywords, None)
    assert kx.shape[1:] == (32, 16, 1) and np.bincount(ky).tolist() == [150] * 4
    assert np.bincount(datasets.load_arrays(keywords, "testing")[1]).tolist() == [30] * 4  # stratified by class
    assert datasets.find_project(data_dir, "keywords").id == 2
    with pytest.raises(LocalStudioError):
        datasets.get_project(data_dir, 99)
    with pytest.raises(LocalStudioError):
        datasets.find_project(data_dir, "nope")


def test_the_split_seed_is_stored_with_the_project(tmp_path: Path) -> None:
    datasets.ensure_default_projects(tmp_path)
    file = tmp_path / "projects" / "1" / "project.json"
    stored = json.loads(file.read_text())
    assert stored["splitSeed"] == datasets.DEFAULT_SPLIT_SEED == datasets.get_project(tmp_path, 1).split_seed
    file.write_text(json.dumps({**stored, "splitSeed": 5}))
    assert datasets.get_project(tmp_path, 1).split_seed == 5
    del stored["splitSeed"]  # a project written before the seed was stored: the default, fixed as well
    file.write_text(json.dumps(stored))
    assert datasets.get_project(tmp_path, 1).split_seed == datasets.DEFAULT_SPLIT_SEED


def test_keywords_are_deterministic() -> None:
    a, ya = datasets.keywords_arrays(per_class=5)
    b, yb = datasets.keywords_arrays(per_class=5)
    assert np.array_equal(a, b) and np.array_equal(ya, yb)
    c, _ = datasets.keywords_arrays(seed=1, per_class=5)
    assert not np.array_equal(a, c)


def test_import_features_round_trip(tmp_path: Path, data_dir: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((30, 12)).astype(np.float32)
    y1 = rng.integers(1, 4, 30)  # Edge Impulse: 1-based class numbers
    np.save(tmp_path / "X_train_features.npy", x)
    np.save(tmp_path / "y_train.npy", y1)
    (tmp_path / "labels.txt").write_text("a\nb\nc\n")
    p = featureimport.import_features(data_dir, "imp1", tmp_path / "X_train_features.npy", tmp_path / "y_train.npy",
                                 None, (3, 4))
    assert p.labels == ["a", "b", "c"] and p.input_shape == (3, 4) and p.kind == "features"
    assert p.learn_block_ids[0] not in (3, 4, 5)
    got_x, got_y = datasets.load_arrays(datasets.get_project(data_dir, p.id), None)
    assert np.array_equal(got_x.reshape(30, 12), x) and np.array_equal(got_y, y1 - 1)
    onehot = np.eye(3)[y1 - 1]
    np.save(tmp_path / "y_onehot.npy", onehot)
    q = featureimport.import_features(data_dir, "imp2", tmp_path / "X_train_features.npy", tmp_path / "y_onehot.npy",
                                 ["x", "y", "z"], None)
    assert q.id != p.id and q.input_shape == (12,)
    assert np.array_equal(datasets.load_arrays(q, None)[1], y1 - 1)
    with pytest.raises(LocalStudioError, match="imp1"):
        featureimport.import_features(data_dir, "imp1", tmp_path / "X_train_features.npy", tmp_path / "y_train.npy",
                                 None, None)
    with pytest.raises(LocalStudioError, match="input_shape"):
        featureimport.import_features(data_dir, "imp3", tmp_path / "X_train_features.npy", tmp_path / "y_train.npy",
                                 None, (5, 5))


def _req(**kw: object) -> SetKerasParameterRequest:
    return SetKerasParameterRequest.model_validate(kw)


@pytest.mark.parametrize(("body", "fragment"), [
    ({"learningRate": 0}, "learningRate"),
    ({"learningRate": 1.5}, "learningRate"),
    ({"batchSize": 0}, "batchSize"),
    ({"batchSize": 100000}, "batchSize"),
    ({"trainingCycles": 0}, "trainingCycles"),
    ({"trainingCycles": 20000}, "trainingCycles"),
    ({"trainTestSplit": 1.0}, "trainTestSplit"),
    ({"visualLayers": [{"type": "lstm"}]}, "unknown layer type"),
    ({"visualLayers": [{"type": "dense", "neurons": 5000}]}, "neurons"),
    ({"visualLayers": [{"type": "conv1d", "kernelSize": 65}]}, "kernelSize"),
    ({"visualLayers": [{"type": "dropout", "dropoutRate": 1.0}]}, "dropoutRate"),
    ({"visualLayers": [{"type": "reshape", "columns": 7}, {"type": "conv1d"}]}, "columns"),
    ({"visualLayers": [{"type": "conv1d"}, {"type": "conv2d"}]}, "conv2d"),
])
def test_validate_rejects(data_dir: Path, body: dict, fragment: str) -> None:
    digits = datasets.get_project(data_dir, 1)
    with pytest.raises(ApiError, match=fragment) as info:
        validate_request(_req(**body), digits)
    assert info.value.status_code == 400


def test_validate_conv_on_flat_features_needs_reshape(data_dir: Path, tmp_path: Path) -> None:
    x, y = np.zeros((4, 12), np.float32), np.array([1, 2, 1, 2])
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    p = featureimport.import_features(data_dir, "flat", tmp_path / "x.npy", tmp_path / "y.npy", ["a", "b"], None)
    with pytest.raises(ApiError, match="reshape"):
        validate_request(_req(visualLayers=[{"type": "conv2d"}]), p)
    validate_request(_req(visualLayers=[{"type": "reshape", "columns": 4}, {"type": "conv2d"}]), p)


def test_validate_accepts_and_plans(data_dir: Path) -> None:
    digits = datasets.get_project(data_dir, 1)
    validate_request(_req(visualLayers=[{"type": "transfer_mobilenetv2_a35"}], mode="visual"), digits)  # job refuses
    validate_request(_req(learningRate=1.0, batchSize=1, trainingCycles=1, trainTestSplit=0.5), digits)
    steps = plan_layers([VisualLayer(type="dense", neurons=32)], (8, 8, 1), 10)
    assert [s.op for s in steps] == ["dense", "softmax"] and total_macs(steps) == 64 * 32 + 32 * 10
    conv = plan_layers([VisualLayer(type="conv2d", neurons=4, kernel_size=3, stack=2)], (8, 8, 1), 10)
    assert [s.op for s in conv] == ["reshape", "conv2d", "conv2d", "maxpool2d", "flatten", "softmax"]
    assert conv[3].out_shape == (4, 4, 4)
    assert conv[1].macs == 64 * 9 * 1 * 4 and conv[2].macs == 64 * 9 * 4 * 4
    c1 = plan_layers([VisualLayer(type="reshape", columns=8), VisualLayer(type="conv1d", neurons=6)], (8, 8, 1), 10)
    assert c1[0].out_shape == (8, 8) and c1[2].out_shape == (4, 6)
    off = plan_layers([VisualLayer(type="dense", neurons=99, enabled=False)], (8, 8, 1), 10)
    assert [s.op for s in off] == ["softmax"]
