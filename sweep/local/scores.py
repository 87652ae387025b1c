"""The four scikit-learn functions the trainer uses, in NumPy: the worker imports Keras without sklearn (~1 s).

Each gives what sklearn 1.x gives for the same arguments, bit for bit where it draws random numbers (the
split: ``train_test_split(..., stratify=y, random_state=seed)``), which tests/test_local_scores.py checks
against sklearn itself. sklearn stays a dependency of the ``local`` extra (the digits dataset), and Keras
imports it whenever it is installed, so the worker hides it while Keras imports (see ``worker.py``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["balanced_class_weight", "classification_report", "confusion_matrix", "split_indices"]


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """sklearn.utils.extmath._approximate_mode: draws per class, ties broken by ``rng``."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return np.asarray(floored, dtype=int)


def _sizes(n_samples: int, test_size: float) -> tuple[int, int]:
    n_test = math.ceil(test_size * n_samples)
    n_train = n_samples - n_test
    if n_train <= 0 or n_test <= 0:
        raise ValueError(f"a validation fraction of {test_size} leaves no training or no validation sample "
                         f"of {n_samples}")
    return n_train, n_test


def split_indices(n_samples: int, test_size: float, seed: int,
                  stratify: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices as ``train_test_split(np.arange(n_samples), test_size=..., random_state=seed,
    stratify=...)`` returns them; ValueError where sklearn refuses to stratify (a class with one sample, or
    fewer samples on a side than classes)."""
    n_train, n_test = _sizes(n_samples, test_size)
    rng = np.random.RandomState(seed)
    if stratify is None:
        permutation = rng.permutation(n_samples)
        return permutation[n_test:n_test + n_train], permutation[:n_test]
    classes, y_indices, class_counts = np.unique(stratify, return_inverse=True, return_counts=True)
    if np.min(class_counts) < 2:
        raise ValueError(f"classes with a single sample: {classes[class_counts < 2].tolist()}")
    if n_train < len(classes) or n_test < len(classes):
        raise ValueError(f"{n_train} training and {n_test} validation samples for {len(classes)} classes")
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train: list[int] = []
    test: list[int] = []
    for i in range(len(classes)):
        taken = class_indices[i].take(rng.permutation(class_counts[i]), mode="clip")
        train.extend(taken[:n_i[i]])
        test.extend(taken[n_i[i]:n_i[i] + t_i[i]])
    return rng.permutation(train), rng.permutation(test)


def balanced_class_weight(n_classes: int, y: np.ndarray) -> np.ndarray:
    """``compute_class_weight("balanced", classes=np.arange(n_classes), y=y)``: n / (classes x count)."""
    counts = np.bincount(y, minlength=n_classes)
    if (counts == 0).any():
        raise ValueError(f"classes {np.flatnonzero(counts == 0).tolist()} are not in the training split")
    return len(y) / (n_classes * counts.astype(np.float64))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows: the true class, columns: the predicted one (``sklearn.metrics.confusion_matrix``, labels 0..n-1)."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def _ratio(num: np.ndarray | float, den: np.ndarray | float) -> Any:
    """num / den, 0 where den is 0 (sklearn's zero_division=0)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def _scores(tp: Any, fp: Any, fn: Any) -> tuple[Any, Any, Any]:
    return _ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(2 * tp, 2 * tp + fp + fn)


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, names: list[str]) -> dict[str, Any]:
    """``classification_report(y_true, y_pred, labels=range(len(names)), target_names=names, output_dict=True,
    zero_division=0)`` for single-label classes 0..n-1: per class, accuracy, macro and weighted averages."""
    cm = confusion_matrix(y_true, y_pred, len(names)).astype(np.float64)
    tp, support = np.diag(cm), cm.sum(axis=1)
    fp, fn = cm.sum(axis=0) - tp, support - tp
    precision, recall, f1 = _scores(tp, fp, fn)
    report: dict[str, Any] = {
        name: {"precision": float(p), "recall": float(r), "f1-score": float(f), "support": float(s)}
        for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)}
    total = float(support.sum())
    report["accuracy"] = float(_ratio(tp.sum(), tp.sum() + fp.sum()))
    weights = support / total if total else np.zeros_like(support)
    for key, mean in (("macro avg", np.mean), ("weighted avg", lambda v: (v * weights).sum())):
        report[key] = {"precision": float(mean(precision)), "recall": float(mean(recall)),
                       "f1-score": float(mean(f1)), "support": total}
    return report
