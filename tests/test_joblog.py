"""Job log lines: per-epoch curves for pruning, and why a failed job failed (never merely its last line)."""

from __future__ import annotations

import pytest

from sweep.studio.joblog import curves_from_log, failure_reason


def test_curves_from_keras_log_lines() -> None:
    lines = [
        "Training model...",
        "Epoch 1/3",
        "12/12 - 0s - loss: 2.1000 - accuracy: 0.3000 - val_loss: 1.9000 - val_accuracy: 0.4000",
        "Epoch 2/3",
        "loss: 1.5 - accuracy: 0.6 - val_loss: 1.2 - val_accuracy: 0.65",
        "Epoch 3/3 12/12 - loss: 1.0e-1 - accuracy: 0.9 - val_loss: nan - val_accuracy: 0.88",
        "calculate_classification_metrics{\"accuracy\": 0.88}",
    ]
    curves = curves_from_log(lines)
    assert curves["loss"] == [2.1, 1.5, 0.1]
    assert curves["val_accuracy"] == [0.4, 0.65, 0.88]
    assert curves["accuracy"] == [0.3, 0.6, 0.9]
    assert len(curves["val_loss"]) == 3


def test_curves_from_log_ignore_lines_before_the_first_epoch() -> None:
    assert curves_from_log(["loss: 1.0 - accuracy: 0.5"]) == {}


TRACEBACK = [
    "Epoch 3/30",
    "loss: 0.0839 - accuracy: 0.9784 - val_loss: 0.1012 - val_accuracy: 0.9722",
    "Traceback (most recent call last):",
    '  File "/srv/train.py", line 88, in <module>',
    "    model = build(layers)",
    "RecursionError: maximum recursion depth exceeded while calling a Python object",
    "loss: 0.0801 - accuracy: 0.9790",
]


@pytest.mark.parametrize(("lines", "flagged", "reason"), [
    pytest.param(["Epoch 1/2", "loss: 0.0839 - accuracy: 0.9784 - val_loss: 0.1"], [], None,
                 id="epoch-line-is-no-reason"),
    pytest.param(TRACEBACK, [], "RecursionError: maximum recursion depth exceeded while calling a Python object",
                 id="exception-line-of-a-traceback"),
    pytest.param([*TRACEBACK, "Job failed: server stopped while the job was running", "Epoch 4/30"], [],
                 "server stopped while the job was running", id="server-verdict-wins"),
    pytest.param(["Epoch 1/5", "ERR: out of memory", "Epoch 2/5"], [], "ERR: out of memory", id="error-mark"),
    pytest.param(["Epoch 1/5", "[ERROR] Failed to allocate 2.0GiB", "loss: 1"], [], "[ERROR] Failed to allocate 2.0GiB",
                 id="bracketed-error"),
    pytest.param(["Epoch 1/5", "Killed"], [], "Killed", id="oom-killer"),
    pytest.param(["Epoch 1/5", "loss: 1"], ["Training was stopped: GPU lost"], "Training was stopped: GPU lost",
                 id="server-flagged-line"),
    pytest.param(["Job failed", "ValueError: columns 7 does not divide 64"], [],
                 "ValueError: columns 7 does not divide 64", id="empty-verdict-falls-through"),
    pytest.param(TRACEBACK[2:4], ["Traceback (most recent call last):"], None, id="traceback-header-is-no-reason"),
    pytest.param([], [], None, id="no-log"),
])
def test_failure_reason(lines: list[str], flagged: list[str], reason: str | None) -> None:
    assert failure_reason(lines, flagged) == reason
