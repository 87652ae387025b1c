"""test_split.py and its readers: every local project keeps a testing category apart, made once, by sample."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

from sweep.local import datasets, raw_features, rawimport
from sweep.local.test_split import TEST_FRACTION, HeldOut


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("shipped")
    datasets.ensure_default_projects(d)
    return d


def _ids(project: datasets.LocalProject, category: datasets.Category) -> set[int]:
    return {int(v) for v in datasets.load_rows(project, category).samples}


def test_every_shipped_project_holds_a_stratified_test_split_apart(shipped: Path) -> None:
    for project in datasets.list_projects(shipped):
        split = project.test_split
        assert split is not None and split.origin == "made" and split.first_job == 1, project.name
        y = datasets.load_signals(project)[1] if project.kind == "raw" else datasets.load_arrays(project, None)[1]
        test = np.asarray(sorted(split.samples))
        assert len(test) == int(np.ceil(TEST_FRACTION * len(y))), project.name
        counts, share = np.bincount(y[test]), np.bincount(y) * TEST_FRACTION
        assert np.all(np.abs(counts - share) <= 1), f"{project.name}: not stratified by class: {counts}"
        if project.kind != "raw":
            training, testing = _ids(project, "training"), _ids(project, "testing")
            assert training.isdisjoint(testing) and training | testing == set(range(len(y)))
            assert testing == set(split.samples)
    before = {p.name: p.test_split for p in datasets.list_projects(shipped)}
    datasets.ensure_default_projects(shipped)  # made once: a second start changes nothing
    assert datasets.ensure_test_splits(shipped) == []
    assert {p.name: p.test_split for p in datasets.list_projects(shipped)} == before


def test_a_project_made_before_test_splits_gets_one_on_upgrade(tmp_path: Path) -> None:
    datasets.ensure_default_projects(tmp_path, raw=False)
    file = tmp_path / "projects" / "1" / "project.json"
    old = json.loads(file.read_text())
    del old["testSplit"]  # as a project.json written before test splits existed
    file.write_text(json.dumps(old))
    for job in (1, 2, 7):  # jobs already run on the data dir, on every sample
        (tmp_path / "jobs" / str(job)).mkdir(parents=True)
    assert datasets.get_project(tmp_path, 1).test_split is None
    assert len(datasets.load_arrays(datasets.get_project(tmp_path, 1))[0]) == 1797  # no split: every sample trains
    upgraded = datasets.ensure_test_splits(tmp_path)
    assert [p.name for p in upgraded] == ["digits"]
    split = datasets.get_project(tmp_path, 1).test_split
    assert split is not None and split.first_job == 8 and len(split.samples) == 360
    assert len(datasets.load_arrays(datasets.get_project(tmp_path, 1))[0]) == 1797 - 360
    assert datasets.ensure_test_splits(tmp_path) == []  # once
    assert datasets.get_project(tmp_path, 1).test_split == split


def _wav(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(1000)
        w.writeframes(np.full(1000, value, dtype="<i2").tobytes())


def test_an_import_keeps_the_datas_own_testing_category(tmp_path: Path) -> None:
    export = tmp_path / "export"  # Studio's export layout: training/ and testing/, labels in the file names
    for i in range(6):
        _wav(export / "training" / f"{'ab'[i % 2]}.{i}.wav", i)
    for i in range(2):
        _wav(export / "testing" / f"{'ab'[i % 2]}.t{i}.wav", 100 + i)
    project, counts = rawimport.import_raw(tmp_path / "data", "exported", [export])
    assert counts == {"a": 4, "b": 4}
    split = project.test_split
    assert split is not None and split.origin == "imported"
    signals, _ = datasets.load_signals(project)
    assert sorted(int(signals[i][0, 0]) for i in split.samples) == [100, 101]  # exactly the testing files

    labelled = tmp_path / "labelled"  # info.labels names each file's category
    files = []
    for i in range(6):
        _wav(labelled / f"s{i}.wav", i)
        files.append({"path": f"s{i}.wav", "category": "testing" if i in (0, 3) else "training",
                      "label": {"type": "label", "label": "ab"[i % 2]}})
    (labelled / "info.labels").write_text(json.dumps({"version": 1, "files": files}))
    project, _ = rawimport.import_raw(tmp_path / "data", "labelled", [labelled])
    assert project.test_split is not None and project.test_split.origin == "imported"
    assert sorted(int(datasets.load_signals(project)[0][i][0, 0]) for i in project.test_split.samples) == [0, 3]

    plain = tmp_path / "plain"  # no testing category: one is made
    for i in range(10):
        _wav(plain / "ab"[i % 2] / f"{i}.wav", i)
    project, _ = rawimport.import_raw(tmp_path / "data", "plain", [plain])
    made = project.test_split
    assert made is not None and made.origin == "made" and len(made.samples) == 2
    stored = datasets.find_project(tmp_path / "data", "plain").test_split
    assert stored == project.test_split


def test_a_category_folder_is_not_taken_for_a_label(tmp_path: Path) -> None:
    _wav(tmp_path / "testing" / "one.wav", 1)
    _wav(tmp_path / "training" / "two.wav", 2)
    with pytest.raises(Exception, match=r"one.wav: label: its folder 'testing' is a category, not a label"):
        rawimport.import_raw(tmp_path / "data", "x", [tmp_path])
    assert not (tmp_path / "data" / "projects").exists()


def test_windows_of_a_sample_stay_on_its_side(shipped: Path) -> None:
    raw = datasets.find_project(shipped, "keywords-raw")
    values = {"scale-axes": "1", "input-decimation-ratio": "1", "filter-type": "none", "filter-cutoff": "3",
              "filter-order": "2", "analysis-type": "FFT", "fft-length": "16", "spectral-peaks-count": "1",
              "spectral-peaks-threshold": "0.1", "spectral-power-edges": "0.1, 0.5, 1.0, 2.0, 5.0",
              "do-log": "true", "do-fft-overlap": "true", "wavelet-level": "1", "wavelet": "db4",
              "extra-low-freq": "false"}
    found = raw_features.compute_features(raw, "spectral-analysis", values,
                                          {"windowSizeMs": 250, "windowIncreaseMs": 250, "padZeros": True})
    view = raw_features.feature_project(raw, found.key)
    training, testing = datasets.load_rows(view, "training"), datasets.load_rows(view, "testing")
    assert training.windows and len(training.y) + len(testing.y) == found.count == 600 * 4
    assert raw.test_split is not None and set(testing.samples.tolist()) == set(raw.test_split.samples)
    assert set(training.samples.tolist()).isdisjoint(testing.samples.tolist())
    assert np.bincount(testing.samples).max() == 4  # each testing sample's 4 windows, all of them


def test_a_split_round_trips_through_the_project_file() -> None:
    split = HeldOut(frozenset({3, 1}), "imported", 5, "2026-12-08T00:00:00+00:00")
    assert HeldOut.from_json(json.loads(json.dumps(split.to_json()))) == split
    assert split.mask(np.array([0, 1, 2, 3])).tolist() == [False, True, False, True]
