"""``python -m sweep.local``: run the local studio server (its own command line; users run ``sweep serve``)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from sweep.errors import SweepError
from sweep.local.lifetime import DEFAULT_LINGER_S, DEFAULT_LOCK_WAIT_S
from sweep.local.serve import serve


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sweep.local", description="Run the sweep local studio server.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4810, help="port (0 = any free port; default 4810)")
    parser.add_argument("--data-dir", type=Path, default=Path(".sweep/studio"), help="projects, jobs and models")
    parser.add_argument("--concurrency", type=int, default=1, help="training jobs at once (default 1)")
    parser.add_argument("--allow-user-code", action="store_true",
                        help="allow expert-mode scripts (runs the request's Python code!)")
    parser.add_argument("--port-file", type=Path, default=None, help="write the bound port here once listening")
    parser.add_argument("--profiling-job", action="store_true",
                        help="announce device metrics via a second (profiling) job, as Studio does")
    parser.add_argument("--job-limit-m", type=int, default=60, help="minutes a job may run (default 60)")
    parser.add_argument("--max-impulses", type=int, default=-1, metavar="N",
                        help="impulses a project may have, its default one and its clones (default -1: unlimited)")
    parser.add_argument("--lock-wait", type=float, default=DEFAULT_LOCK_WAIT_S, metavar="SECONDS",
                        help="wait this long for another server on the data dir to stop before giving up "
                             f"(default {DEFAULT_LOCK_WAIT_S:g})")
    parser.add_argument("--linger", type=float, default=None, metavar="SECONDS",
                        help="owned mode (as sweep run starts it): stop SECONDS after the last owner registered "
                             f"in DATA/owners/ is gone (sweep run uses {DEFAULT_LINGER_S:g}); "
                             "default: standalone, serve until SIGTERM/SIGINT")
    return parser


def _run() -> int:
    args = _parser().parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        serve(args.host, args.port, args.data_dir, concurrency=args.concurrency, allow_user_code=args.allow_user_code,
              port_file=args.port_file, profiling_job=args.profiling_job, job_limit_m=args.job_limit_m,
              linger=args.linger, lock_wait=args.lock_wait, max_impulses=args.max_impulses)
    except SweepError as exc:
        print(f"sweep.local: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(_run())
