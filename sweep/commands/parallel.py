"""``sweep run --parallel A B ...``: each study as its own ``sweep run`` process, all at once, told apart in the output.

Each child runs with the batch's flags and ``--log-format json`` on its stdout: its events are relayed whole
to the batch's sink (when there is one) and tell how it ended; its stderr is relayed line by line, each
prefixed ``[study]``. Ctrl-C or SIGTERM reaches this process only (each child has its own session) and
is passed on once, as SIGTERM, to every child still running: each stops as a single run stops.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

from sweep.commands.outcome import RunResult, outcome_text, summary_from
from sweep.commands.running import RunFlags
from sweep.errors import SweepError
from sweep.run.events import Events, Sink
from sweep.settings import Settings
from sweep.study.load import load_study

__all__ = ["child_argv", "run_parallel"]


def child_argv(file: Path, flags: RunFlags, verbose: int = 0) -> list[str]:
    """The ``sweep run`` command line of one study of the batch: the batch's flags, events as JSON on stdout."""
    argv = [sys.executable, "-m", "sweep.cli", *(["-" + "v" * verbose] if verbose else []), "run", str(file)]
    if flags.trials is not None:
        argv += ["--trials", str(flags.trials)]
    if flags.storage is not None:
        argv += ["--storage", flags.storage]
    if flags.stale_after is not None:
        argv += ["--stale-after", flags.stale_after]
    argv += [flag for flag, on in (("--no-report", not flags.write_report), ("--quiet", flags.quiet),
                                   ("--no-baseline", not flags.baseline)) if on]
    return [*argv, "--on-stop", flags.on_stop, "--log-format", "json"]


@dataclass
class _Child:
    """One study's process, what it said it did, and the threads relaying its output."""

    name: str
    file: Path
    proc: subprocess.Popen[str]
    done: dict[str, Any] | None = None  # its study_done event
    error: dict[str, Any] | None = None  # its error event
    threads: list[threading.Thread] = field(default_factory=list)

    def result(self) -> RunResult:
        code = self.proc.returncode
        message = self.error.get("message") if self.error else None
        if self.done is None:
            text = outcome_text(code, None, error=message) if message else f"ended with exit code {code}"
            return RunResult(self.name, self.file, code, text, error=message)
        summary = summary_from(self.done.get("summary") or {})
        complete = int(self.done.get("complete_in_study") or 0)
        return RunResult(self.name, self.file, code, outcome_text(code, summary, complete, message), summary,
                         complete, list(self.done.get("best") or []), error=message)


def run_parallel(files: Sequence[Path], settings: Settings, flags: RunFlags, *, sink: Sink | None, stream: TextIO,
                 verbose: int = 0) -> list[RunResult]:
    """Start every study that loads as its own process, relay their output, wait for them all."""
    results: dict[Path, RunResult] = {}
    children: list[_Child] = []
    lock = threading.Lock()
    try:
        for file in files:
            try:
                spec = load_study(file, settings)
            except SweepError as exc:  # it fails alone; the others run
                Events(sink).error(message=str(exc), exit_code=exc.exit_code, file=str(file))
                results[file] = RunResult(None, file, exc.exit_code, f"error: {exc}", error=str(exc))
                continue
            proc = subprocess.Popen(child_argv(file, flags, verbose), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, text=True, bufsize=1, start_new_session=True)
            child = _Child(spec.name, file, proc)
            child.threads = [threading.Thread(target=_relay_events, args=(child, sink, stream, lock), daemon=True),
                             threading.Thread(target=_relay_text, args=(child, stream, lock), daemon=True)]
            for thread in child.threads:
                thread.start()
            children.append(child)
            print(f"batch: started {spec.name} ({file}) as process {proc.pid}", file=stream, flush=True)
        _wait(children, stream, lock)
    except KeyboardInterrupt:  # while starting them: stop those started, start no other
        _stop(children, stream, lock)
        _wait(children, stream, lock)
    for child in children:
        results[child.file] = child.result()
    return [results.get(file) or RunResult(None, file, 130, "not started: the batch was interrupted")
            for file in files]


def _wait(children: list[_Child], stream: TextIO, lock: threading.Lock) -> None:
    """Until every child has ended and its output is relayed; an interrupt is passed on once."""
    stopped = False
    while True:
        try:
            for child in children:
                child.proc.wait()
                for thread in child.threads:
                    thread.join()
            return
        except KeyboardInterrupt:
            if not stopped:
                stopped = True
                _stop(children, stream, lock)


def _stop(children: list[_Child], stream: TextIO, lock: threading.Lock) -> None:
    running = [c for c in children if c.proc.poll() is None]
    with lock:
        print(f"batch: interrupted: stopping {len(running)} running studies (SIGTERM to each); no study starts now",
              file=stream, flush=True)
    for child in running:
        try:
            child.proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass


def _relay_events(child: _Child, sink: Sink | None, stream: TextIO, lock: threading.Lock) -> None:
    """The child's stdout: its events, kept for its outcome and handed to the batch's sink; any other line as text."""
    for line in _lines(child.proc.stdout):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or "event" not in record:
            _write(stream, lock, f"[{child.name}] {line}")
            continue
        if record["event"] == "study_done":
            child.done = record
        elif record["event"] == "error":
            child.error = record
        if sink is not None:
            sink(record)


def _relay_text(child: _Child, stream: TextIO, lock: threading.Lock) -> None:
    for line in _lines(child.proc.stderr):
        _write(stream, lock, f"[{child.name}] {line}")


def _lines(pipe: IO[str] | None) -> Iterator[str]:
    if pipe is None:
        return iter(())
    return (line.rstrip("\n") for line in iter(pipe.readline, ""))


def _write(stream: TextIO, lock: threading.Lock, line: str) -> None:
    with lock:
        stream.write(line + "\n")
        stream.flush()
