"""Live progress of a sweep on stderr: one line per event, and a refreshing status line on a terminal.

The status line (drawn only on a terminal) reads, with every timer labelled::

    [elapsed 0:03:10] 5/12 done | trial 6 running epoch 12/30 (job 1005, block 10, for 0:00:12) | ...
    | best int8.accuracy 97.22 % (trial 3) | ETA 0:04:10

and always fits the terminal's width (it is redrawn in place, and a line that wrapped would leave its
first rows behind): where it is too long, the block ids go first, then the best's metric names (the
values keep their units, in the objectives' order), the timers' labels and the trials' job ids, the
trials' own timers, the word "epoch", the elapsed time, the best's trial numbers, the best itself; the
count done, each running trial's epoch and the ETA stay to the last (and past that the line is cut).
The ETA is the trials still to finish times the mean wall time of those this run finished, over
the slots; it is left out until one has finished. The status line is drawn only when stderr and stdout
are both terminals (a scheduler or a pipe reading either gets plain lines). A run's machine-readable
events (:mod:`sweep.run.events`) travel with it: ``events`` is handed to whatever reports here.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, TextIO

from sweep.run.events import Events
from sweep.units import metric_text

__all__ = ["Progress"]


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@dataclass(frozen=True)
class _Running:
    """A running trial as the live line shows it."""

    label: str
    state: str
    job_id: int | None
    learn_id: int
    elapsed_s: float
    epoch: tuple[int, int] | None

    def text(self, level: int) -> str:
        """From the whole (0) to the least (5): ``trial 6 running epoch 12/30 (job 1005, block 10, for 0:00:12)``,
        without the block, ``trial 6 epoch 12/30 (0:00:12)``, ``trial 6 epoch 12/30``, ``trial 6 12/30``,
        ``#6 12/30`` (a trial not training shows its state instead: ``queued``, ``profiling``)."""
        at = f"{self.epoch[0]}/{self.epoch[1]}" if self.epoch is not None else ""
        if level >= 4:
            label = self.label.replace("trial ", "#") if level >= 5 else self.label
            return f"{label} {at or self.state}"
        if level >= 2:
            state = f"epoch {at}" if at and self.state == "running" else f"{self.state}{' epoch ' + at if at else ''}"
            return f"{self.label} {state}" + (f" ({_clock(self.elapsed_s)})" if level == 2 else "")
        job = f"job {self.job_id}, " if self.job_id is not None else ""
        block = f"block {self.learn_id}, " if level == 0 else ""
        return f"{self.label} {self.state}{' epoch ' + at if at else ''} ({job}{block}for {_clock(self.elapsed_s)})"


# The live line's detail, least cut first: (elapsed, each trial, best) levels of detail; see _Line.
_LEVELS = ((0, 0, 0), (0, 1, 0), (0, 1, 1), (1, 2, 1), (1, 3, 1), (1, 4, 1), (2, 4, 1), (2, 4, 2), (2, 4, 3),
           (2, 5, 3))


class Progress:
    """Thread-safe printer of trial events; ``quiet`` keeps only failures and the summary."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False, live: bool | None = None,
                 events: Events | None = None) -> None:
        # live None: drawn when ``stream`` is a terminal and, for the default stream (stderr), stdout is one too
        self.stream = stream or sys.stderr
        self.quiet = quiet
        if live is None:
            live = _isatty(self.stream) and (stream is not None or _isatty(sys.stdout))
        self.live = live and not quiet
        self.events = events or Events()
        self._lock = threading.Lock()
        self._status: dict[int, _Running] = {}
        self._epochs: dict[int, tuple[int, int]] = {}  # the epoch each running trial's last event said
        self._best_values: dict[str, Any] = {}
        self._started = time.monotonic()
        self._total: int | None = None
        self._done = 0
        self._slots = 1
        self._walls: list[float] = []

    def _emit(self, line: str) -> None:
        with self._lock:
            if self.live:
                self.stream.write("\r\x1b[2K")
            self.stream.write(line + "\n")
            if self.live and self._status:
                self.stream.write(self._status_line())
            self.stream.flush()

    def _status_line(self) -> str:
        """The live line at the most detail that fits the terminal (one column spare: never a wrap)."""
        width = max(shutil.get_terminal_size().columns - 1, 20)
        line = ""
        for level in _LEVELS:
            line = self._line(*level)
            if len(line) <= width:
                return line
        return line[:width - 1] + "…"

    def _line(self, elapsed: int, trial: int, best: int) -> str:
        clock = _clock(time.monotonic() - self._started)
        head = [[f"[elapsed {clock}]", f"[{clock}]"][elapsed]] if elapsed < 2 else []
        if self._total is not None:
            head.append(f"{self._done}/{self._total} done")
        parts = [" ".join(head)] if head else []
        parts.extend(self._status[k].text(trial) for k in sorted(self._status))
        if self._best_values and best < 3:
            parts.append("best " + ", ".join(_best_text(m, v, best) for m, v in self._best_values.items()))
        if (eta := self.eta_s()) is not None:
            parts.append(f"ETA {_clock(eta)}")
        return " | ".join(parts)

    def eta_s(self) -> float | None:
        """Seconds until the target is reached, from this run's finished trials (None before the first)."""
        if self._total is None or not self._walls:
            return None
        left = max(self._total - self._done, 0)
        return left * statistics.fmean(self._walls) / max(self._slots, 1)

    def plan(self, total: int, done: int, slots: int) -> None:
        """The run's target: ``total`` trials, ``done`` of them already, ``slots`` at a time."""
        with self._lock:
            self._total, self._done, self._slots = total, done, slots

    def counted(self, wall_s: float | None) -> str:
        """One more trial toward the target (``wall_s``: its time, when it trained); ``[done/total]``."""
        with self._lock:
            self._done += 1
            if wall_s is not None:
                self._walls.append(wall_s)
            return f" [{self._done}/{self._total}]" if self._total is not None else ""

    def info(self, message: str) -> None:
        if not self.quiet:
            self._emit(message)

    def warn(self, message: str) -> None:
        self._emit(message)

    @property
    def wants_epochs(self) -> bool:
        """Whether a running job's epoch is worth reading: for the live line, or for ``epoch`` events."""
        return self.live or self.events.enabled

    def running(self, trial: int, label: str, job_id: int | None, learn_id: int, state: str, elapsed_s: float,
                epoch: tuple[int, int] | None = None) -> None:
        """Refresh the live line of a running trial (only drawn on a terminal); a new epoch is an event."""
        with self._lock:
            self._status[trial] = _Running(label, state, job_id, learn_id, elapsed_s, epoch)
            if self.live:
                self.stream.write("\r\x1b[2K" + self._status_line())
                self.stream.flush()
            new_epoch = epoch is not None and self._epochs.get(trial) != epoch
            if new_epoch and epoch is not None:
                self._epochs[trial] = epoch
            shown = (self._done, self._total, dict(self._best_values), self.eta_s())
        if new_epoch and epoch is not None:
            done, total, best, eta = shown
            self.events.epoch(trial=trial, label=label, epoch=epoch[0], of=epoch[1], job_id=job_id,
                              learn_block=learn_id, elapsed_s=elapsed_s, done=done, total=total, best=best, eta_s=eta)

    def done(self, trial: int) -> None:
        with self._lock:
            self._status.pop(trial, None)
            self._epochs.pop(trial, None)

    def best(self, values: dict[str, Any]) -> None:
        """The best so far of each objective, ``{metric: {"value": v, "trial": n}}``: the live line shows it (each
        in its unit, :mod:`sweep.units`), ``epoch`` events carry it."""
        with self._lock:
            self._best_values = dict(values)


def _best_text(metric: str, best: dict[str, Any], level: int) -> str:
    """One objective's best: ``int8.accuracy 97.22 % (trial 3)``, ``97.22 % (trial 3)``, ``97.22 %``."""
    value = metric_text(metric, float(best["value"]))
    return [f"{metric} {value} (trial {best['trial']})", f"{value} (trial {best['trial']})", value][level]


def _isatty(stream: object) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())
