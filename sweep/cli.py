"""The thin edge: parse arguments, build the settings once, call the command's function, map errors to exit codes."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TextIO

from sweep.errors import SettingsError, SweepError, Terminated, interrupt_reason
from sweep.version import __version__

if TYPE_CHECKING:
    from sweep.settings import Settings

__all__ = ["main"]

log = logging.getLogger("sweep")


def _ids(flag: str, text: str) -> list[int]:
    """``--learn-blocks 12,13`` / ``--slots 1,2``: distinct positive numbers."""
    what = "learn block ids" if flag == "--learn-blocks" else "slot numbers"
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SettingsError(flag, f"not a comma-separated list of {what}: {text!r}") from None
    if not ids or len(set(ids)) != len(ids) or min(ids) < 1:
        raise SettingsError(flag, f"give distinct positive {what} (got {text!r})")
    return ids


def _shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise SettingsError("--shape", f"not a comma-separated list of sizes, e.g. 8,8,1 (got {text!r})") from None


def _add_storage(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", metavar="URL",
                   help="Optuna storage URL (journal:PATH, sqlite:///PATH, postgresql://...); "
                        "default: the study file's, else a journal file in .sweep/ next to the study")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sweep",
        description="Hyperparameter sweeps for Edge Impulse learn blocks, driven by Optuna. "
                    "With no EI_API_KEY a study with target.kind = 'local' trains on the embedded local studio.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("--version", action="version", version=f"sweep {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(sub)
    _add_readers(sub)
    _add_local(sub)
    return parser


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="run (or resume) a sweep, or several", description=(
        "Run a study's trials as Edge Impulse train jobs. Running it again resumes: jobs left running are "
        "re-attached, not trained again. Several study files run one after another (--parallel: side by side), "
        "with the same flags; the exit code is the worst of the set."))
    run.add_argument("studies", type=Path, nargs="+", metavar="STUDY", help="study file(s) (TOML)")
    run.add_argument("--trials", type=int, metavar="N", help="total number of completed trials to reach")
    _add_storage(run)
    run.add_argument("--no-report", action="store_true", help="do not refresh reports/<study>/ at the end")
    run.add_argument("--enqueue", type=Path, metavar="FILE", help="try these configurations first: a JSON list of "
                     "{param: value} objects or TOML [[trial]] tables, checked against the study's space")
    run.add_argument("--no-baseline", action="store_true", help="a new study does not first train the source "
                     "learn block's own configuration as its baseline (the study file's `baseline = false`)")
    run.add_argument("--quiet", action="store_true", help="print only failures and the summary")
    run.add_argument("--parallel", action="store_true", help="several studies: run them side by side, each as its "
                     "own `sweep run` process (its lines prefixed [study])")
    run.add_argument("--compare", action="store_true", help="several studies: `sweep compare` them at the end")
    run.add_argument("--on-stop", choices=["cancel", "leave"], default="cancel", help="on Ctrl-C/SIGTERM: cancel "
                     "the running jobs and record their trials failed (default), or leave the jobs running and their "
                     "trials RUNNING, for the next `sweep run` to re-attach")
    run.add_argument("--log-format", choices=["text", "json"], default="text", help="json: also write the run's "
                     "events as JSON lines (docs/events.md) to stdout, or to --log-file")
    run.add_argument("--log-file", type=Path, metavar="PATH", help="with --log-format json: append the events to "
                     "this file instead of stdout")
    _add_workers(run)

    confirm = sub.add_parser("confirm", help="retrain the best trials with other seeds", description=(
        "Retrain the top trials (and the baseline) several times with other seeds on the study's slots, record "
        "every repeat, and say whether the leader is distinguishable from the runner-up. Resumable like run."))
    confirm.add_argument("study", type=Path, help="study file (TOML)")
    confirm.add_argument("--top", type=int, default=3, metavar="K", help="how many of the best trials (default 3)")
    confirm.add_argument("--repeats", type=int, default=3, metavar="R",
                         help="more trainings of each, each with its own seed (default 3)")
    _add_storage(confirm)
    confirm.add_argument("--no-report", action="store_true", help="do not refresh reports/<study>/ at the end")
    confirm.add_argument("--quiet", action="store_true", help="print only failures and the summary")
    _add_workers(confirm)

    test = sub.add_parser("test", help="the finalists' models on the project's testing data", description=(
        "Score each finalist's kept float32 and int8 models (the best K trials by validation, the baseline, and "
        "their confirmation repeats) on the project's testing data, never trained on nor used to choose, and "
        "show validation beside test with 95 % intervals. Resumable: tested models are not tested again."))
    test.add_argument("study", type=Path, help="study file (TOML)")
    test.add_argument("--top", type=int, default=3, metavar="K", help="how many of the best trials (default 3)")
    _add_storage(test)
    test.add_argument("--no-report", action="store_true", help="do not refresh reports/<study>/ at the end")
    test.add_argument("--quiet", action="store_true", help="print only failures and the results")
    _add_workers(test)


def _add_workers(p: argparse.ArgumentParser) -> None:
    """Which slots or learn blocks this worker takes, and when another worker counts as gone."""
    p.add_argument("--slots", metavar="N,N", help="use only these of the study's cloned slots (1-based; e.g. one set "
                   "per worker when several `sweep run` processes share a study)")
    p.add_argument("--learn-blocks", metavar="ID,ID", help="a study that trains on named learn blocks "
                   "(target.learn_blocks): use only these (one set per worker)")
    p.add_argument("--stale-after", metavar="DURATION",
                   help="a RUNNING trial whose worker on another host has not beaten its heart for this long is "
                        "taken over (default 180s, or SWEEP_STALE_AFTER_S; at least 60s, twice the 30 s heartbeat)")


def _add_readers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The commands that read a study: status, best, report, compare."""
    status = sub.add_parser("status", help="table of the study's trials", description="Show every trial: state, "
                            "params, objectives, job id, and the best trial(s).")
    status.add_argument("study", type=Path, help="study file (TOML)")
    _add_storage(status)
    status.add_argument("--wide", action="store_true", help="every param column and whole notes (the default fits "
                        "100 columns)")

    best = sub.add_parser("best", help="the best trial(s): metrics and exact train request", description=(
        "Print the best trial (the Pareto front, for several objectives) in trial order: metrics, seed and the exact "
        "train request body; --json for scripts; with --apply save it to your own learn block."))
    best.add_argument("study", type=Path, help="study file (TOML)")
    _add_storage(best)
    best.add_argument("--apply", action="store_true",
                      help="save the configuration to your own learn block (the one the clones copy)")
    best.add_argument("--train", action="store_true", help="with --apply: also train it there and wait")
    best.add_argument("--trial", type=int, metavar="N", help="use trial N instead of the best")
    best.add_argument("--json", action="store_true", help="for scripts: a JSON list of the trials (trial, objectives, "
                      "metrics, seed, job_id, request)")
    best.add_argument("--model", type=Path, metavar="DIR", help="write its kept float32 and int8 .tflite models "
                      "into DIR (on a multi-objective study: each Pareto-optimal trial's, or trial N's)")

    dash = sub.add_parser("dashboard", help="optuna-dashboard on the study", description=(
        "Serve optuna-dashboard on the study's storage, with the objectives named and constraints shown "
        "(the dashboard extra)."))
    dash.add_argument("study", type=Path, help="study file (TOML)")
    _add_storage(dash)
    dash.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    dash.add_argument("--port", type=int, default=8080, help="port (default 8080)")

    report = sub.add_parser("report", help="write reports/<study>/", description=(
        "Write index.html, report.md, trials.csv and plots for a study."))
    report.add_argument("study", type=Path, help="study file (TOML)")
    _add_storage(report)
    report.add_argument("--out", type=Path, metavar="DIR", help="output folder (default reports/<study>)")

    cleanup = sub.add_parser("cleanup", help="delete the clones a study made", description=(
        "Delete the impulses this study cloned for its slots (recorded on the study, or named sweep:<study>:<k>), "
        "and nothing else."))
    cleanup.add_argument("study", type=Path, help="study file (TOML)")
    _add_storage(cleanup)
    cleanup.add_argument("--dry-run", action="store_true", help="only say which impulses would be deleted")

    compare = sub.add_parser("compare", help="compare several studies", description=(
        "Best-so-far curves, objective distributions and best configurations of several studies."))
    compare.add_argument("studies", type=Path, nargs="+", help="study files (TOML)")
    compare.add_argument("--out", type=Path, metavar="DIR", help="output folder (default reports/compare-<names>)")


def _add_local(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The local studio on its own: serve, import."""
    serve = sub.add_parser("serve", help="run the local studio server", description=(
        "Serve the Edge Impulse train API on this machine, training real Keras models offline."))
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=4810, help="port (0 = any free port; default 4810)")
    serve.add_argument("--data-dir", type=Path, default=None, help="projects, jobs and models (default .sweep/studio)")
    serve.add_argument("--concurrency", type=int, default=1, help="training jobs at once (default 1)")
    serve.add_argument("--allow-user-code", action="store_true",
                       help="allow expert-mode scripts (runs the request's Python code!)")

    imp = sub.add_parser("import", help="import exported features or raw data as a local project", description=(
        "Import X_train_features.npy / y_train.npy (as Edge Impulse's dashboard exports them) as a local project, "
        "or with --raw, raw data: data acquisition JSON files and WAV files, or folders of them."))
    imp.add_argument("name", help="new project name")
    imp.add_argument("--x", dest="x_path", type=Path, help="X_train_features.npy")
    imp.add_argument("--y", dest="y_path", type=Path, help="y_train.npy")
    imp.add_argument("--labels", help="comma-separated class names, in label order")
    imp.add_argument("--shape", help="input shape, e.g. 8,8,1 (default: flat features)")
    imp.add_argument("--raw", nargs="+", type=Path, metavar="PATH", help="raw samples instead: .json (data "
                     "acquisition format) and .wav files, or folders of them (searched recursively)")
    imp.add_argument("--label-from", choices=["auto", "name", "folder"], help="with --raw, where a file's label "
                     "comes from when no info.labels names it: its name up to the first dot (Studio's "
                     "label.xxxx.json), its folder, or auto (the default): the name if it has that form, else the"
                     " folder")
    imp.add_argument("--data-dir", type=Path, default=None, help="local studio data dir (default .sweep/studio)")


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _sigterm(_signum: int, _frame: FrameType | None) -> None:
    """SIGTERM stops the run as Ctrl-C does, once: from then on SIGTERM is ignored, so a scheduler's second one
    (or one a batch passes on) does not break into the stop under way, nor kill the process as it exits;
    SIGKILL still ends it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated


def _dispatch(args: argparse.Namespace) -> int:
    """The command's typed function, with the settings built here, once."""
    from sweep import commands  # the library side; imported after parsing so --help stays quick
    from sweep.settings import load_settings

    settings = load_settings()
    if args.command == "run":
        return _run(args, settings)
    if args.command == "confirm":
        return commands.confirm(args.study, settings, top=args.top, repeats=args.repeats, storage=args.storage,
                                learn_blocks=_ids("--learn-blocks", args.learn_blocks) if args.learn_blocks else None,
                                slots=_ids("--slots", args.slots) if args.slots else None,
                                stale_after=args.stale_after, write_report=not args.no_report, quiet=args.quiet)
    if args.command == "test":
        blocks = _ids("--learn-blocks", args.learn_blocks) if args.learn_blocks else None
        return commands.score_finalists(args.study, settings, top=args.top, storage=args.storage, learn_blocks=blocks,
                                        slots=_ids("--slots", args.slots) if args.slots else None,
                                        stale_after=args.stale_after, write_report=not args.no_report,
                                        quiet=args.quiet)
    if args.command == "dashboard":
        return commands.dashboard(args.study, settings, storage=args.storage, host=args.host, port=args.port)
    if args.command == "status":
        return commands.status(args.study, settings, storage=args.storage, wide=args.wide)
    if args.command == "best":
        return commands.best(args.study, settings, storage=args.storage, apply=args.apply, train=args.train,
                             trial=args.trial, as_json=args.json, model=args.model)
    if args.command == "cleanup":
        return commands.cleanup(args.study, settings, storage=args.storage, dry_run=args.dry_run)
    if args.command == "report":
        return commands.report(args.study, settings, storage=args.storage, out=args.out)
    if args.command == "compare":
        return commands.compare(args.studies, settings, out=args.out)
    if args.command == "serve":
        return commands.serve(settings, host=args.host, port=args.port, data_dir=args.data_dir,
                              concurrency=args.concurrency, allow_user_code=args.allow_user_code)
    return _import(args, settings)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    """``sweep run STUDY...``: one study as ever; several (or --parallel) as a batch; events as JSON lines."""
    from sweep.commands.batch import check_batch, run_several
    from sweep.commands.running import RunFlags, run_study
    from sweep.run.events import Events, JsonLines

    if args.log_file is not None and args.log_format != "json":
        raise SettingsError("--log-file", "is where --log-format json writes its events: give --log-format json too")
    flags = RunFlags(trials=args.trials, storage=args.storage,
                     learn_blocks=_ids("--learn-blocks", args.learn_blocks) if args.learn_blocks else None,
                     slots=_ids("--slots", args.slots) if args.slots else None, stale_after=args.stale_after,
                     write_report=not args.no_report, quiet=args.quiet, baseline=not args.no_baseline,
                     enqueue=args.enqueue, on_stop=args.on_stop,
                     live=False if args.log_format == "json" and args.log_file is None else None)
    several = len(args.studies) > 1 or args.parallel
    check_batch(args.studies, flags, compare=args.compare)  # before anything is opened or written
    with contextlib.ExitStack() as stack:
        sink = None
        if args.log_format == "json":
            sink = JsonLines(stack.enter_context(_log_stream(args.log_file)) if args.log_file else sys.stdout)
        if several:
            return run_several(args.studies, settings, flags, parallel=args.parallel, compare=args.compare,
                               sink=sink, verbose=args.verbose)
        return run_study(args.studies[0], settings, flags, events=Events(sink)).exit_code


def _log_stream(path: Path) -> TextIO:
    """--log-file: appended to (a resumed run adds its events to the last run's), one line per event."""
    try:
        return path.open("a", encoding="utf-8")
    except OSError as exc:
        raise SettingsError("--log-file", f"cannot open {str(path)!r} to append: {exc.strerror}") from None


def _import(args: argparse.Namespace, settings: Settings) -> int:
    """``sweep import``: exported features (--x, --y) or raw data (--raw), never both."""
    from sweep import commands
    from sweep.commands.local import import_raw

    if args.raw:
        given = [flag for flag, value in (("--x", args.x_path), ("--y", args.y_path), ("--labels", args.labels),
                                          ("--shape", args.shape)) if value is not None]
        if given:
            raise SettingsError(given[0], "is for exported features: --raw takes labels and shapes from the files")
        return import_raw(settings, name=args.name, paths=args.raw, label_from=args.label_from or "auto",
                          data_dir=args.data_dir)
    if args.label_from is not None:
        raise SettingsError("--label-from", "applies to --raw imports only")
    if args.x_path is None or args.y_path is None:
        raise SettingsError("--x/--y", "give --x X_train_features.npy and --y y_train.npy (exported features), "
                                       "or --raw PATH... (raw data)")
    labels = [part.strip() for part in args.labels.split(",")] if args.labels else None
    return commands.import_features(settings, name=args.name, x_path=args.x_path, y_path=args.y_path, labels=labels,
                                    shape=_shape(args.shape) if args.shape else None, data_dir=args.data_dir)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    # The dashboard has nothing to wind down, and its server (wsgiref) swallows an exception raised while it
    # answers a request: SIGTERM ends it at once, as it ends optuna-dashboard itself.
    signal.signal(signal.SIGTERM, signal.SIG_DFL if args.command == "dashboard" else _sigterm)
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # here, so a closed pipe is seen below and not at interpreter exit
        return code
    except BrokenPipeError:
        # The reader went away (`sweep status | head -1`): stop quietly, as Unix tools do on SIGPIPE.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except SweepError as exc:
        print(f"sweep: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        print(f"sweep: {interrupt_reason(exc)}", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
