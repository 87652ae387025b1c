"""What each command does: one typed function per command, given the settings built once at the edge (cli.py)."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sweep.errors import SettingsError, UsageError
from sweep.settings import Settings, choose
from sweep.study.load import load_study
from sweep.study.spec import StudySpec
from sweep.study.storage_url import redact_url

if TYPE_CHECKING:
    import optuna

    from sweep.run.follow import Follower, Polling
    from sweep.run.progress import Progress
    from sweep.run.runner import RunOptions
    from sweep.run.slots import SlotPlan, Slots
    from sweep.run.tally import RunSummary
    from sweep.session.stored import Stored
    from sweep.session.target import TargetPlan
    from sweep.studio.backend import Backend
    from sweep.studio.client import StudioClient
    from sweep.studio.socket import ProjectSocket

__all__ = ["best", "cleanup", "compare", "confirm", "import_features", "report", "run", "serve", "status"]


def run(study_file: Path, settings: Settings, *, trials: int | None = None, storage: str | None = None,
        learn_blocks: list[int] | None = None, slots: list[int] | None = None, stale_after: str | None = None,
        write_report: bool = True, quiet: bool = False, baseline: bool = True, enqueue: Path | None = None) -> int:
    """Run or resume the study's trials; every check that needs no server comes first, so a refused run
    writes nothing (no data dir, no journal, no report, no clone)."""
    from sweep.run.budget import show_quota
    from sweep.run.progress import Progress
    from sweep.run.runner import Runner
    from sweep.run.warm import enqueue_configs, warm_sources, warm_start
    from sweep.session import stored
    from sweep.session.target import plan_target
    from sweep.study.configs import load_enqueue_file

    spec = load_study(study_file, settings)
    target_trials = choose(flag=trials, default=spec.trials).value  # the file always names its trials
    if target_trials < 1:
        raise SettingsError("--trials", f"must be at least 1 (got {target_trials})")
    found = stored.find(spec, stored.storage_url(spec, storage, settings))
    if found.study is not None:
        stored.check_compatible(found.study, spec)
    sources = warm_sources(spec, found, settings)
    given = load_enqueue_file(enqueue, spec) if enqueue is not None else []
    plan = plan_target(spec, settings, learn_blocks, slots)
    stale_after_s = _stale_after(stale_after, settings)
    _refuse_busy(found.study, plan, stale_after_s)
    progress = Progress(quiet=quiet)
    study: optuna.Study | None = None  # set once the run really starts: only then is a report due
    try:
        with _working(spec, settings, plan, found, progress, slots or learn_blocks) as work:
            options = _options(spec, target_trials, work.polling, stale_after_s)
            progress.info(f"study {spec.name!r}: {target_trials} trials on {work.description}")
            show_quota(work.client, progress)
            study = work.study
            warm_start(spec, study, sources, progress)
            if given:
                enqueue_configs(study, given, str(enqueue), progress)
            if baseline and spec.baseline:
                from sweep.run.fixed_runs import run_baseline

                run_baseline(spec, study, work.client, work.learn_ids, options, progress, work.events, work.source)
            summary = Runner(spec, study, work.client, work.learn_ids, options, progress=progress,
                             events=work.events).run()
    finally:
        if study is not None and write_report:
            _refresh_report(study, spec, settings, progress)
    _print_done(study, spec, summary, progress)
    return 0


def confirm(study_file: Path, settings: Settings, *, top: int = 3, repeats: int = 3, storage: str | None = None,
            learn_blocks: list[int] | None = None, slots: list[int] | None = None, stale_after: str | None = None,
            write_report: bool = True, quiet: bool = False) -> int:
    """Retrain the ``top`` best trials (and the baseline) ``repeats`` times each with other seeds, on the study's
    slots; resumable like ``run``. Prints each as mean ± sd and whether the leader beats the runner-up."""
    from sweep.report.confirmed import baseline_trial
    from sweep.report.versus import confirmed_lines
    from sweep.run.fixed_runs import confirm_items, run_side, top_trials
    from sweep.run.progress import Progress
    from sweep.session import stored
    from sweep.session.side import CONFIRM, enqueue, open_side
    from sweep.session.target import plan_target

    for flag, value in (("--top", top), ("--repeats", repeats)):
        if value < 1:
            raise SettingsError(flag, f"must be at least 1 (got {value})")
    spec = load_study(study_file, settings)
    found = stored.find(spec, stored.storage_url(spec, storage, settings))
    if found.study is None:
        raise UsageError(f"no study named {spec.name!r} in {redact_url(found.url)}; run `sweep run {spec.path}` first")
    stored.check_compatible(found.study, spec)
    chosen = top_trials(found.study, top)
    if not chosen:
        raise UsageError(f"study {spec.name!r} has no completed feasible trial to confirm yet")
    plan = plan_target(spec, settings, learn_blocks, slots)
    stale_after_s = _stale_after(stale_after, settings)
    _refuse_busy(found.study, plan, stale_after_s)
    progress = Progress(quiet=quiet)
    with _working(spec, settings, plan, found, progress, slots or learn_blocks) as work:
        side = open_side(work.study, CONFIRM)
        items = confirm_items(work.study, spec, chosen, repeats, baseline_trial(work.study))
        queued = enqueue(side, items)
        progress.info(f"confirm: trials {', '.join(str(t.number) for t in chosen)}"
                      + (" and the baseline" if baseline_trial(work.study) else "")
                      + f", {repeats} more trainings each with other seeds ({queued} queued now) on {work.description}")
        run_side(spec, side, work.client, work.learn_ids, _options(spec, len(items), work.polling, stale_after_s),
                 progress, work.events)
    for line in confirmed_lines(work.study, [o.metric for o in spec.objectives]):
        progress.warn(line)
    if write_report:
        _refresh_report(work.study, spec, settings, progress)
    return 0


@dataclass(frozen=True)
class _Work:
    """A run's working set once connected: the client, its socket, the study opened, the slots readied."""

    client: StudioClient
    events: ProjectSocket | None
    study: optuna.Study
    learn_ids: list[int]
    source: int  # the user's own learn block (the clones' source, or the first one named)
    polling: Polling
    description: str  # where it runs, for the first line a run prints


@contextlib.contextmanager
def _working(spec: StudySpec, settings: Settings, plan: TargetPlan, found: Stored, progress: Progress,
             worker: list[int] | None) -> Iterator[_Work]:
    """Connect, open the study and ready its slots (the impulse limit checked before any clone) for as
    long as the run lasts; the socket is closed before the local studio stops."""
    import threading

    from sweep.run.follow import Follower, Polling
    from sweep.session import stored
    from sweep.session.target import connect
    from sweep.studio.socket import project_socket

    with connect(spec, settings, plan) as conn, \
            project_socket(conn.client.base_url, conn.client.socket_token, enabled=settings.socket) as events:
        polling = Polling.from_settings(settings, conn.poll_max_s)
        setup = _plan_slots(spec, conn.client, plan, found.study, progress)
        opened = stored.create(spec, found, worker=",".join(map(str, worker or [])))
        stored.record_study_attrs(opened, spec)
        learn_ids = _learn_ids(opened, plan, setup, conn.client, Follower(
            conn.client, polling=polling, stop=threading.Event(), events=events), progress)
        source = setup[1].source_learn.id if setup is not None else learn_ids[0]
        yield _Work(conn.client, events, opened, learn_ids, source, polling,
                    f"{conn.description}, learn blocks {learn_ids}; storage {redact_url(found.url)}")


def _options(spec: StudySpec, target_trials: int, polling: Polling, stale_after_s: float) -> RunOptions:
    from sweep.run.runner import RunOptions

    return RunOptions(
        target_trials=target_trials, time_limit_s=spec.time_limit_s, compute_budget_s=spec.compute_budget_s,
        max_consecutive_failures=spec.max_consecutive_failures, job_timeout_s=spec.timeout_per_job_s,
        polling=polling, stale_after_s=stale_after_s)


def _refuse_busy(study: optuna.Study | None, plan: TargetPlan, stale_after_s: float) -> None:
    """One job per learn block across the study's workers: a block (or slot) a live worker uses is refused."""
    from sweep.run.slots import recorded_learn_ids
    from sweep.run.workers import Workers

    if study is None:
        return
    if plan.uses_slots:
        slot_of = {lid: number for number, lid in recorded_learn_ids(study, plan.slot_numbers).items()}
        Workers(study, list(slot_of), stale_after_s, slot_of).refuse_busy_blocks()
    else:
        Workers(study, plan.learn_ids, stale_after_s).refuse_busy_blocks()


def _plan_slots(spec: StudySpec, backend: Backend, plan: TargetPlan, study: optuna.Study | None,
                progress: Progress) -> tuple[Slots, SlotPlan] | None:
    """The slots to find or make (nothing is made yet), or None when the study trains on named learn blocks."""
    from sweep.run.slots import Slots
    from sweep.session.clones import read_slots

    if not plan.uses_slots:
        return None
    slots = Slots(spec, backend, progress)
    return slots, slots.plan(plan.slot_numbers, read_slots(study) if study is not None else None)


def _learn_ids(study: optuna.Study, plan: TargetPlan, setup: tuple[Slots, SlotPlan] | None, backend: Backend,
               follower: Follower, progress: Progress) -> list[int]:
    """The learn blocks the run trains on: its slots' clones (made and readied now), or the blocks named."""
    if setup is None:
        progress.warn(f"training directly on learn blocks {plan.learn_ids}: every trial replaces their model "
                      "(target.slots trains on cloned impulses instead, and leaves yours untouched)")
        return plan.learn_ids
    slots, slot_plan = setup
    made = slots.make(slot_plan, study, follower)
    return [slot.learn_id for slot in made]


def _print_done(study: optuna.Study, spec: StudySpec, summary: RunSummary, progress: Progress) -> None:
    from optuna.trial import TrialState

    done = sum(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False))
    progress.warn(f"done: {summary.completed} completed, {summary.failed} failed, "
                  + (f"{summary.pruned} pruned, " if summary.pruned else "") + f"{summary.reused} reused, "
                  f"{summary.reattached} re-attached in this run; {done} complete in the study"
                  + (f" ({summary.stopped_reason})" if summary.stopped_reason else ""))
    _print_best(study, spec, sys.stderr)


def _stale_after(flag: str | None, settings: Settings) -> float:
    """--stale-after > SWEEP_STALE_AFTER_S > 180 s; at least two heartbeats, or a live worker looks dead."""
    from sweep.run.runner import HEARTBEAT_S
    from sweep.study.schema import parse_duration

    chosen = choose(flag=flag, environment=settings.stale_after_s, default=180.0)
    field = "--stale-after" if chosen.source == "flag" else "SWEEP_STALE_AFTER_S"
    try:
        seconds = float(parse_duration(chosen.value))
    except (ValueError, TypeError):
        raise SettingsError(field, "not a duration: use seconds (e.g. 300) or text like '5m' "
                                   f"(got {chosen.value!r})") from None
    if seconds < 2 * HEARTBEAT_S:
        raise SettingsError(field, f"must be at least {2 * HEARTBEAT_S:.0f} s, twice the {HEARTBEAT_S:.0f} s heartbeat "
                                   f"of a running trial (got {chosen.value!r})")
    return seconds


def _refresh_report(study: optuna.Study, spec: StudySpec, settings: Settings, progress: Progress) -> None:
    try:
        from sweep.report.build import write_report

        path = write_report(study, settings.reports_dir / spec.name, study_file=str(spec.path), device=spec.device)
        progress.info(f"report: {path}")
    except Exception as exc:  # noqa: BLE001 - a report problem must not hide the sweep's own outcome
        progress.warn(f"could not write the report: {type(exc).__name__}: {exc}")


def _print_best(study: optuna.Study, spec: StudySpec, stream: TextIO) -> None:
    from sweep.report.status import best_trials
    from sweep.report.versus import confirmed_lines, versus_baseline

    names = [o.metric for o in spec.objectives]
    chosen = best_trials(study)
    for t in chosen:
        shown = " ".join(f"{n}={v:.4g}" for n, v in zip(names, t.values or [], strict=False))
        print(f"best: trial {t.number} {shown} job {t.user_attrs.get('job_id')}", file=stream)
    if chosen and (against := versus_baseline(study, chosen[0], names, spec.device)):
        print(against, file=stream)
    for line in confirmed_lines(study, names):
        print(f"confirmed: {line}", file=stream)


def _open(study_file: Path, settings: Settings, storage: str | None) -> tuple[StudySpec, optuna.Study]:
    """The study file and its study, for commands that only read it."""
    from sweep.session import stored

    spec = load_study(study_file, settings)
    return spec, stored.open_existing(spec, stored.storage_url(spec, storage, settings))


def status(study_file: Path, settings: Settings, *, storage: str | None = None, wide: bool = False) -> int:
    """Print every trial (state, params, objectives, job id, best) and the study's compute."""
    from sweep.report.status import status_table

    spec, study = _open(study_file, settings, storage)
    print(status_table(study, spec, wide=wide))
    _print_best(study, spec, sys.stdout)
    return 0


def best(study_file: Path, settings: Settings, *, storage: str | None = None, apply: bool = False,
         train: bool = False, trial: int | None = None) -> int:
    """Print the best trial's exact train request body; with ``apply``, save it to the user's own learn block
    (the source of the clones), and with ``train`` also train it there and wait."""
    from sweep.report.status import chosen_trials

    spec, study = _open(study_file, settings, storage)
    trials = chosen_trials(study, spec, trial)
    if apply and len(trials) > 1:
        numbers = ", ".join(str(t.number) for t in trials)
        raise UsageError(f"--apply: the study has {len(trials)} Pareto-optimal trials ({numbers}); "
                         "choose one with --trial N")
    if train and not apply:
        raise UsageError("--train trains the applied configuration: give --apply too")
    bodies = [t.user_attrs.get("request") for t in trials]
    if len(bodies) == 1:
        print(json.dumps(bodies[0], indent=2, sort_keys=True))
    else:
        print(json.dumps({str(t.number): b for t, b in zip(trials, bodies, strict=True)}, indent=2, sort_keys=True))
    if trial is None:
        _print_best(study, spec, sys.stderr)  # people read stderr; stdout stays the JSON scripts parse
    if apply:
        _apply(spec, study, settings, trials[0].number, bodies[0] or {}, train=train,
               seed=trials[0].user_attrs.get("seed"))
    return 0


def _apply(spec: StudySpec, study: optuna.Study, settings: Settings, number: int, body: dict[str, Any], *,
           train: bool, seed: int | None) -> None:
    from sweep.run.finish import apply_best, source_learn_id
    from sweep.run.follow import Polling
    from sweep.run.progress import Progress
    from sweep.session.target import connect
    from sweep.study.request import TrainRequest

    progress = Progress(sys.stderr)
    with connect(spec, settings, _plain_plan(spec, settings)) as conn:
        learn_id = source_learn_id(spec, study, conn.client, progress)
        if train:
            progress.warn(f"training trial {number}'s configuration on learn block {learn_id}...")
        result = apply_best(conn.client, learn_id, TrainRequest.recorded(body), train=train,
                            polling=Polling.from_settings(settings, conn.poll_max_s), seed=seed)
        progress.warn(f"applied trial {number}'s configuration to learn block {learn_id} ({conn.description})")
        if result is not None:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in sorted(result.metrics.items()) if k.count(".") == 1
                              and k.endswith(("accuracy", "loss")))
            progress.warn(f"trained it there: job {result.job.id}; {shown}")


def _plain_plan(spec: StudySpec, settings: Settings) -> TargetPlan:
    """A plan that reaches the project without claiming slots (the local studio started for one job)."""
    from sweep.session.target import TargetPlan, plan_target

    plan = plan_target(spec, settings, slots=[1] if spec.target.slot_count else None)
    return TargetPlan(learn_ids=plan.learn_ids, local_project_id=plan.local_project_id)


def cleanup(study_file: Path, settings: Settings, *, storage: str | None = None, dry_run: bool = False) -> int:
    """Delete the clones this study made (and nothing else); with ``dry_run``, only say which."""
    from sweep.run.finish import cleanup as delete_clones
    from sweep.session.target import connect

    spec, study = _open(study_file, settings, storage)
    with connect(spec, settings, _plain_plan(spec, settings)) as conn:
        doomed = delete_clones(spec, study, conn.client, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for item in doomed:
        note = "" if item.recorded else " (named like this study's clones, not recorded on it)"
        print(f"{verb} impulse {item.impulse_id} {item.name!r}{note}")
    if not doomed:
        print(f"study {spec.name!r} has no clones in {spec.target.label}")
    return 0


def report(study_file: Path, settings: Settings, *, storage: str | None = None, out: Path | None = None) -> int:
    """Write the study's report (index.html, report.md, trials.csv, plots) and print where."""
    from sweep.report.build import write_report

    spec, study = _open(study_file, settings, storage)
    print(write_report(study, out or settings.reports_dir / spec.name, study_file=str(spec.path), device=spec.device))
    return 0


def compare(study_files: Sequence[Path], settings: Settings, *, out: Path | None = None) -> int:
    """Write a comparison of several studies and print where."""
    from sweep.report.build import write_comparison

    opened = [_open(path, settings, None) for path in study_files]
    folder = out or settings.reports_dir / ("compare-" + "-".join(spec.name for spec, _ in opened))
    print(write_comparison([study for _, study in opened], folder))
    return 0


def serve(settings: Settings, *, host: str, port: int, data_dir: Path | None, concurrency: int,
          allow_user_code: bool) -> int:
    """Serve the local studio until stopped (a standalone server: the runs that find it reuse it)."""
    from sweep.local.serve import serve as serve_forever

    try:
        serve_forever(host, port, data_dir or settings.data_dir, concurrency=concurrency,
                      allow_user_code=allow_user_code)
    except KeyboardInterrupt:  # uvicorn re-raises SIGINT/SIGTERM after a clean shutdown: that is a normal stop
        pass
    return 0


def import_features(settings: Settings, *, name: str, x_path: Path, y_path: Path, labels: list[str] | None,
                    shape: tuple[int, ...] | None, data_dir: Path | None) -> int:
    """Import exported features (X_train_features.npy, y_train.npy) as a local project."""
    from sweep.local.datasets import import_features as import_project

    project = import_project(data_dir or settings.data_dir, name, x_path, y_path, labels, shape)
    print(f"imported {project.name!r} as local project {project.id} (learn blocks {project.learn_block_ids})")
    return 0
