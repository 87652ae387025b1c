"""``sweep run A.toml B.toml ...``: several studies one after another, or side by side as separate processes.

Each study is run (and resumed) as ``sweep run`` runs one, with the same flags. A study that fails, even
to load, fails alone and the batch goes on; Ctrl-C or SIGTERM stops the running study as a single run
stops and starts no other. The end says how each ended, one line each, and the batch exits with the worst
exit code of the set (``--compare`` then compares them).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from sweep.commands.outcome import INTERRUPTED, RunResult
from sweep.commands.running import RunFlags, run_study
from sweep.errors import SettingsError, SweepError
from sweep.run.events import Events, Sink
from sweep.settings import Settings

__all__ = ["BatchResult", "check_batch", "run_batch", "run_several"]

# Flags that name one study's share or content: they cannot apply to several at once.
_ONE_STUDY_ONLY = (("slots", "--slots"), ("learn_blocks", "--learn-blocks"), ("enqueue", "--enqueue"))


class BatchResult:
    """How each study of a batch ended, in the order given, and the comparison (when asked for)."""

    def __init__(self, results: list[RunResult], compare: RunResult | None = None) -> None:
        self.results, self.compare = results, compare

    @property
    def exit_code(self) -> int:
        """The worst exit code of the set (the highest: 130 interrupted > 3 key refused > 2 bad input > 1 stopped)."""
        codes = [r.exit_code for r in self.results] + ([self.compare.exit_code] if self.compare else [])
        return max(codes, default=0)

    def lines(self) -> list[str]:
        """The closing lines: one per study (name, file, exit code, what happened), and the comparison's."""
        head = f"batch: {len(self.results)} studies, exit code {self.exit_code}"
        rows = [f"  {r.study or '(not loaded)'} ({r.file}): exit {r.exit_code}: {r.outcome}" for r in self.results]
        if self.compare is not None:
            rows.append(f"  compare ({self.compare.file}): exit {self.compare.exit_code}: {self.compare.outcome}")
        return [head, *rows]


def check_batch(files: Sequence[Path], flags: RunFlags, *, compare: bool) -> None:
    """Refuse what cannot apply to a set, before anything runs: a flag that names one study's share, a file
    given twice, ``--compare`` of fewer than two studies."""
    if len(files) > 1:
        for attr, flag in _ONE_STUDY_ONLY:
            if getattr(flags, attr) is not None:
                raise SettingsError(flag, f"applies to one study, and {len(files)} are given; run each study that "
                                          f"needs it on its own (`sweep run STUDY {flag} ...`)")
    seen: dict[Path, Path] = {}
    for file in files:
        key = file.resolve()
        if key in seen:
            raise SettingsError("STUDY", f"{file} is given twice (as {seen[key]} too); give each study once")
        seen[key] = file
    if compare and len(files) < 2:
        raise SettingsError("--compare", "compares several studies: give at least two study files")


def run_batch(files: Sequence[Path], settings: Settings, flags: RunFlags, *, parallel: bool = False,
              compare: bool = False, sink: Sink | None = None, stream: TextIO | None = None,
              verbose: int = 0) -> BatchResult:
    """Run every study (``parallel``: each as its own ``sweep run`` process, all at once); then, unless the
    batch was interrupted, compare those that loaded. ``sink`` gets every study's events; ``stream`` the
    human lines of the batch itself (default stderr)."""
    out = stream or sys.stderr
    check_batch(files, flags, compare=compare)
    if parallel:
        from sweep.commands.parallel import run_parallel

        results = run_parallel(files, settings, flags, sink=sink, stream=out, verbose=verbose)
    else:
        results = _run_in_turn(files, settings, flags, sink, out)
    compared = None
    if compare and not any(r.exit_code == INTERRUPTED for r in results):
        compared = _compare(results, settings, flags.storage)
    return BatchResult(results, compared)


def run_several(files: Sequence[Path], settings: Settings, flags: RunFlags, *, parallel: bool = False,
                compare: bool = False, sink: Sink | None = None, verbose: int = 0) -> int:
    """``sweep run A B ...``: the batch, its closing lines on stderr, its ``batch_done`` event; the worst code."""
    batch = run_batch(files, settings, flags, parallel=parallel, compare=compare, sink=sink, verbose=verbose)
    for line in batch.lines():
        print(line, file=sys.stderr)
    Events(sink).batch_done(exit_code=batch.exit_code, studies=[r.record() for r in batch.results])
    return batch.exit_code


def _run_in_turn(files: Sequence[Path], settings: Settings, flags: RunFlags, sink: Sink | None,
                 out: TextIO) -> list[RunResult]:
    """One study after another; an interrupt ends the running one as a single run ends, and starts no other."""
    results: list[RunResult] = []
    for i, file in enumerate(files):
        try:
            print(f"batch: study {i + 1} of {len(files)}: {file}", file=out, flush=True)
            result = run_study(file, settings, flags, events=Events(sink), check=False)
        except KeyboardInterrupt:  # between two studies, or while one was being wound down
            result = RunResult(None, file, INTERRUPTED, "interrupted")
        results.append(result)
        if result.exit_code == INTERRUPTED:
            results += [RunResult(None, rest, INTERRUPTED, "not started: the batch was interrupted")
                        for rest in files[i + 1:]]
            break
    return results


def _compare(results: list[RunResult], settings: Settings, storage: str | None) -> RunResult:
    """``sweep compare`` of the studies that loaded (at least two), as one more line of the batch's end."""
    from sweep.commands.reading import compare_studies

    files = [r.file for r in results if r.study is not None]
    if len(files) < 2:
        return RunResult(None, Path("-"), 0, f"skipped: {len(files)} of the studies loaded, and it takes two")
    try:
        path = compare_studies(files, settings, storage=storage)
    except SweepError as exc:
        return RunResult(None, Path("-"), exc.exit_code, f"error: {exc}", error=str(exc))
    except KeyboardInterrupt:
        return RunResult(None, Path("-"), INTERRUPTED, "interrupted")
    return RunResult(None, path, 0, f"{len(files)} studies compared", report=path)
