"""What each command does: one typed function per command, given the settings built once at the edge (cli.py).

``running`` trains (run, confirm), ``finals`` scores the finalists on the testing data (test), ``reading``
reads a study and ends it well (status, best, report, compare, dashboard, cleanup), ``local`` serves the local
studio and imports data into it; ``batch`` and ``parallel`` run several studies (one after another, or side by
side), ``outcome`` says how a run ended (RunResult). The Python API (sweep.api) calls these same functions.
"""

from __future__ import annotations

from sweep.commands.finals import score_finalists
from sweep.commands.local import import_features, serve
from sweep.commands.reading import best, cleanup, compare, dashboard, report, status
from sweep.commands.running import confirm, run

__all__ = ["best", "cleanup", "compare", "confirm", "dashboard", "import_features", "report", "run",
           "score_finalists", "serve", "status"]
