"""``python -m sweep.local``: run the local studio server."""

from __future__ import annotations

import argparse
import logging
import sys

from sweep.errors import SweepError
from sweep.local.serve import add_arguments, main


def _run() -> int:
    parser = argparse.ArgumentParser(prog="python -m sweep.local", description="Run the sweep local studio server.")
    add_arguments(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        return main(args)
    except SweepError as exc:
        print(f"sweep.local: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(_run())
