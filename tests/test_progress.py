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


def test_the_live_line_counts_shows_epochs_best_and_an_eta_from_finished_trials(monkeypatch: pytest.MonkeyPatch
                                                                               ) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # room for every part
    out = _Terminal()
    progress = Progress(out)
    progress.plan(total=12, done=4, slots=2)
    progress.running(6, "trial 6", 1005, 10, "running", 12.0, (12, 30))
    line = _last_status(out.getvalue())
    assert line.startswith("[elapsed 0:00:0") and "4/12 done" in line
    assert "trial 6 running epoch 12/30 (job 1005, block 10, for 0:00:12)" in line
    assert "ETA" not in line  # nothing finished in this run yet: no guess
    assert progress.counted(40.0) == " [5/12]" and progress.counted(20.0) == " [6/12]"
    progress.best({"int8.accuracy": {"value": 0.9722, "trial": 3},
                   "cortex-m4f-80mhz.latency_ms": {"value": 1.2, "trial": 5}})
    progress.running(7, "trial 7", None, 11, "queued", 1.0)
    line = _last_status(out.getvalue())
    # 6 trials left x 30 s mean over 2 slots = 90 s
    assert progress.eta_s() == pytest.approx(90.0) and line.endswith("ETA 0:01:30")
    assert "6/12 done" in line and "best int8.accuracy 97.22 % (trial 3), cortex-m4f-80mhz.latency_ms 1.2 ms" in line
    assert "trial 7 queued (block 11, for 0:00:01)" in line


def test_no_live_line_off_a_terminal_but_event_lines_carry_the_count() -> None:
    out = io.StringIO()
    progress = Progress(out)
    progress.plan(total=3, done=0, slots=1)
    progress.running(0, "trial 0", 1, 7, "running", 1.0, (1, 5))
    progress.info("trial 0: complete int8.accuracy=0.9" + progress.counted(2.0))
    assert out.getvalue() == "trial 0: complete int8.accuracy=0.9 [1/3]\n"


def _two_slots(columns: int, monkeypatch: pytest.MonkeyPatch) -> str:
    """The live line of a 2-slot run with a best and an ETA, on a terminal ``columns`` wide."""
    monkeypatch.setenv("COLUMNS", str(columns))
    out = _Terminal()
    progress = Progress(out)
    progress.plan(total=12, done=4, slots=2)
    progress.counted(40.0)
    progress.best({"int8.accuracy": {"value": 0.9917, "trial": 7},
                   "cortex-m4f-80mhz.latency_ms": {"value": 0.294, "trial": 4}})
    progress.running(6, "trial 6", 1005, 10, "running", 12.0, (12, 30))
    progress.running(7, "trial 7", 1006, 11, "running", 3.0, (2, 20))
    return _last_status(out.getvalue())


@pytest.mark.parametrize("columns", [200, 100, 80, 60, 40])
def test_the_live_line_fits_the_terminal_and_keeps_what_matters_most(columns: int,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    line = _two_slots(columns, monkeypatch)
    assert len(line) < columns  # never as wide as the terminal: a full row would wrap and leave a stale row behind
    assert "\n" not in line and "5/12 done" in line and "ETA" in line
    if columns >= 60:  # each running trial's epoch stays to the last
        assert "12/30" in line and "2/20" in line
    if columns >= 80:
        assert "97.22 %" not in line and "99.17 %" in line and "0.294 ms" in line  # one unit: % for accuracy


def test_the_live_line_on_100_columns_drops_the_least_useful_parts_first(monkeypatch: pytest.MonkeyPatch) -> None:
    wide = _two_slots(400, monkeypatch)
    assert "block 10" in wide and "best int8.accuracy 99.17 % (trial 7)" in wide and "[elapsed " in wide
    assert len(wide) > 150  # what the line was on every terminal
    line = _two_slots(100, monkeypatch)
    assert "block" not in line and "int8.accuracy" not in line  # the first to go
    assert line == "5/12 done | trial 6 12/30 | trial 7 2/20 | best 99.17 % (trial 7), 0.294 ms (trial 4) | ETA 0:02:20"
    monkeypatch.setenv("COLUMNS", "100")
    one = Progress(out := _Terminal())
    one.plan(total=12, done=4, slots=1)
    one.best({"int8.accuracy": {"value": 0.9917, "trial": 7}, "cortex-m4f-80mhz.latency_ms": {"value": 0.294,
                                                                                             "trial": 4}})
    one.running(4, "trial 4", 7, 7, "running", 3.0, (7, 20))
    assert _last_status(out.getvalue()) == ("[0:00:00] 4/12 done | trial 4 epoch 7/20 (0:00:03) | best 99.17 % "
                                            "(trial 7), 0.294 ms (trial 4)")


def test_last_epoch_reads_the_newest_epoch_line() -> None:
    assert last_epoch(["Epoch 1/30", "loss: 0.5", "Epoch 2/30", "loss: 0.4"]) == (2, 30)
    assert last_epoch(["Dataset digits: 1437 training"]) is None
