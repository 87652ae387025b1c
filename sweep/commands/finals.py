"""``sweep test STUDY [--top K]``: the finalists' kept models scored on the project's testing data (run/finals.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sweep.errors import SettingsError, SweepAborted, UsageError
from sweep.settings import Settings
from sweep.study.load import load_study
from sweep.study.spec import StudySpec
from sweep.study.storage_url import redact_url

if TYPE_CHECKING:
    from sweep.commands.running import _Work
    from sweep.run.finals import Finalist
    from sweep.run.progress import Progress

__all__ = ["score_finalists"]


def _pending(chosen: list[Finalist], progress: Progress) -> tuple[list[Finalist], list[str]]:
    """The finalists still to test (a record naming their kept files: tested already), and why others cannot be."""
    from sweep.session import tested
    from sweep.session.artifacts import kept_models

    todo, problems = [], []
    done = {id(f.owner): tested.records(f.owner) for f in chosen}
    for finalist in chosen:
        kept = kept_models(finalist.trial)
        files = kept.files() if kept is not None else {}
        if set(files) != {"float32", "int8"}:
            why = kept.error if kept is not None and kept.error else "no model files were recorded on it"
            if finalist.of is None:  # the baseline is tested when it kept models, and said to be left out otherwise
                progress.warn(f"{finalist.label} is not tested: it kept no float32 and int8 models ({why})")
            else:
                problems.append(f"{finalist.label} is not tested: it kept no float32 and int8 models ({why})")
            continue
        record = done[id(finalist.owner)].get(finalist.trial.number)
        if record is not None and {k: m.sha256 for k, m in record.models.items()} == \
                {k: f.sha256 for k, f in files.items()}:
            progress.info(f"{finalist.label}: tested already ({record.tested_at[:19]})")
            continue
        todo.append(finalist)
    return todo, problems


def score_finalists(study_file: Path, settings: Settings, *, top: int = 3, storage: str | None = None,
                    learn_blocks: list[int] | None = None, slots: list[int] | None = None,
                    stale_after: str | None = None, write_report: bool = True, quiet: bool = False) -> int:
    """Test the ``top`` best trials (by validation, the study's own ranking), the baseline and their confirmation
    repeats on the project's testing data; print validation beside test. 0, or 1 when some could not be tested."""
    from sweep.commands.reading import refresh_report
    from sweep.commands.running import _refuse_busy, _stale_after, _working
    from sweep.report.finals import finals_lines
    from sweep.run.finals import finalists
    from sweep.run.progress import Progress
    from sweep.session import stored
    from sweep.session.artifacts import artifact_place
    from sweep.session.target import plan_target

    if top < 1:
        raise SettingsError("--top", f"must be at least 1 (got {top})")
    spec = load_study(study_file, settings)
    url = stored.storage_url(spec, storage, settings)
    found = stored.find(spec, url)
    if found.study is None:
        raise UsageError(f"no study named {spec.name!r} in {redact_url(url)}; run `sweep run {spec.path}` first")
    stored.check_compatible(found.study, spec)
    chosen = finalists(found.study, top)
    if not chosen:
        raise UsageError(f"study {spec.name!r} has no completed feasible trial to test yet")
    progress = Progress(quiet=quiet)
    todo, problems = _pending(chosen, progress)
    study = found.study
    if todo:
        plan = plan_target(spec, settings, found.study, learn_blocks, slots)
        _refuse_busy(found.study, plan, _stale_after(stale_after, settings), spec.target.slot_count)
        with _working(spec, settings, plan, found, progress, slots or learn_blocks) as work:
            study = work.study
            problems += _test_all(spec, work, artifact_place(spec, url, settings).path, todo, progress)
    for line in finals_lines(study):
        print(line)
    for problem in problems:
        progress.warn(problem)
    if write_report:
        refresh_report(study, spec, settings, progress)
    return 1 if problems else 0


def _test_all(spec: StudySpec, work: _Work, store_dir: Path, todo: list[Finalist], progress: Progress) -> list[str]:
    """Test each finalist on the run's first slot; the problems of those that could not be tested."""
    import threading

    from sweep.run.finals import Tester
    from sweep.run.follow import Follower
    from sweep.session.compute import Account, totals

    # its feature jobs are charged to the study (purpose "test") and count against its compute_budget
    follower = Follower(work.client, polling=work.polling, stop=threading.Event(), events=work.events,
                        account=Account(work.study, "test"))
    tester = Tester(spec, work.client, work.learn_ids[0], store_dir, follower, progress,
                    lambda: totals(work.study).total_s)
    problems = []
    repeats = sum(f.repeat > 0 for f in todo)
    named = ", ".join(f.label for f in todo if not f.repeat)
    named += f"{' and ' if named else ''}{repeats} confirmation repeat(s)" if repeats else ""
    progress.info(f"test: {named or 'nothing'}, on the testing data of learn block {work.learn_ids[0]}'s impulse")
    for finalist in todo:
        try:
            result = tester.test(finalist)
        except UsageError as exc:
            problems.append(str(exc))
            continue
        except SweepAborted as exc:  # the compute budget: no feature job; a finalist needing none is still tested
            problems.append(str(exc))
            continue
        shown = ", ".join(f"{k} {m.accuracy * 100:.2f} %" for k, m in sorted(result.models.items(), reverse=True))
        progress.info(f"{finalist.label}: tested on {result.models['int8'].windows} windows: {shown}")
    return problems
