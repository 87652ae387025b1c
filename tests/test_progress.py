"""The live line a terminal shows: counts toward the target, each running trial's epoch, the best, an ETA."""

from __future__ import annotations

import io

import pytest

from sweep.run.progress import Progress
from sweep.studio.joblog import last_epoch


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _last_status(text: str) -> str:
    return text.rsplit("\r\x1b[2K", 1)[-1]


def test_the_live_line_counts_shows_epochs_best_and_an_eta_from_finished_trials() -> None:
    out = _Terminal()
    progress = Progress(out)
    progress.plan(total=12, done=4, slots=2)
    progress.running(6, "trial 6", 1005, 10, "running", 12.0, (12, 30))
    line = _last_status(out.getvalue())
    assert line.startswith("[elapsed 0:00:0") and "4/12 done" in line
    assert "trial 6 running epoch 12/30 (job 1005, block 10, for 0:00:12)" in line
    assert "ETA" not in line  # nothing finished in this run yet: no guess
    assert progress.counted(40.0) == " [5/12]" and progress.counted(20.0) == " [6/12]"
    progress.best("int8.accuracy 0.9722 (trial 3), cortex-m4f-80mhz.latency_ms 1.2 (trial 5)")
    progress.running(7, "trial 7", None, 11, "queued", 1.0)
    line = _last_status(out.getvalue())
    # 6 trials left x 30 s mean over 2 slots = 90 s
    assert progress.eta_s() == pytest.approx(90.0) and line.endswith("ETA 0:01:30")
    assert "6/12 done" in line and "best int8.accuracy 0.9722 (trial 3), cortex-m4f-80mhz.latency_ms 1.2" in line
    assert "trial 7 queued (block 11, for 0:00:01)" in line


def test_no_live_line_off_a_terminal_but_event_lines_carry_the_count() -> None:
    out = io.StringIO()
    progress = Progress(out)
    progress.plan(total=3, done=0, slots=1)
    progress.running(0, "trial 0", 1, 7, "running", 1.0, (1, 5))
    progress.info("trial 0: complete int8.accuracy=0.9" + progress.counted(2.0))
    assert out.getvalue() == "trial 0: complete int8.accuracy=0.9 [1/3]\n"


def test_last_epoch_reads_the_newest_epoch_line() -> None:
    assert last_epoch(["Epoch 1/30", "loss: 0.5", "Epoch 2/30", "loss: 0.4"]) == (2, 30)
    assert last_epoch(["Dataset digits: 1437 training"]) is None
