"""The trainer's NumPy split and scores give what scikit-learn gives (the worker no longer imports sklearn)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import classification_report as sk_report
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight

from sweep.local import scores

CASES = [(1797, 10, 0.2, 7), (1437, 10, 0.2, 0), (100, 3, 0.33, 12345), (41, 2, 0.5, 3), (360, 7, 0.1, 99),
         (25, 5, 0.25, 1)]


@pytest.mark.parametrize(("n", "classes", "split", "seed"), CASES)
def test_the_stratified_split_is_sklearns(n: int, classes: int, split: float, seed: int) -> None:
    y = np.random.default_rng(seed).integers(0, classes, n)
    y[:2 * classes] = np.repeat(np.arange(classes), 2)  # every class has at least two samples
    ours = scores.split_indices(n, split, seed, stratify=y)
    theirs = train_test_split(np.arange(n), test_size=split, stratify=y, random_state=seed)
    assert [a.tolist() for a in ours] == [a.tolist() for a in theirs]


@pytest.mark.parametrize(("n", "classes", "split", "seed"), CASES)
def test_the_plain_split_is_sklearns(n: int, classes: int, split: float, seed: int) -> None:
    ours = scores.split_indices(n, split, seed)
    theirs = train_test_split(np.arange(n), test_size=split, random_state=seed)
    assert [a.tolist() for a in ours] == [a.tolist() for a in theirs]


def test_a_split_sklearn_cannot_stratify_is_refused_too() -> None:
    y = np.array([0, 0, 0, 0, 1, 1, 1, 2])  # class 2 has one sample
    with pytest.raises(ValueError):
        train_test_split(np.arange(len(y)), test_size=0.25, stratify=y, random_state=0)
    with pytest.raises(ValueError, match="single sample"):
        scores.split_indices(len(y), 0.25, 0, stratify=y)
    with pytest.raises(ValueError, match="validation samples for 3 classes"):
        scores.split_indices(9, 0.2, 0, stratify=np.repeat([0, 1, 2], 3))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_balanced_class_weights_are_sklearns(seed: int) -> None:
    y = np.random.default_rng(seed).choice(4, 200, p=[0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(scores.balanced_class_weight(4, y),
                               compute_class_weight("balanced", classes=np.arange(4), y=y), rtol=1e-12)


@pytest.mark.parametrize(("classes", "seed", "accuracy"), [(10, 0, 0.9), (3, 1, 0.5), (2, 2, 0.7), (5, 3, 0.0)])
def test_the_report_and_confusion_matrix_are_sklearns(classes: int, seed: int, accuracy: float) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes - 1, 300)  # the last class never occurs: its scores divide by zero
    pred = np.where(rng.random(300) < accuracy, y, rng.integers(0, classes, 300))
    names = [f"c{i}" for i in range(classes)]
    theirs = sk_report(y, pred, labels=list(range(classes)), target_names=names, output_dict=True, zero_division=0)
    ours = scores.classification_report(y, pred, names)
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, abs=1e-12), key
    expected = sk_confusion(y, pred, labels=list(range(classes)))
    assert scores.confusion_matrix(y, pred, classes).tolist() == expected.tolist()
