"""Commands that train: run (the sweep) and confirm (repeats of its best); connecting, slots and workers."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweep.commands.outcome import RunResult, outcome_text
from sweep.errors import SettingsError, SweepError, UsageError, interrupt_reason
from sweep.settings import Settings, choose
from sweep.study.load import load_study
from sweep.study.spec import StudySpec
from sweep.study.storage_url import redact_url

if TYPE_CHECKING:
    import optuna

    from sweep.run.events import Events
    from sweep.run.follow import Follower, Polling
    from sweep.run.progress import Progress
    from sweep.run.runner import OnStop, Runner, RunOptions
    from sweep.run.slots import SlotPlan, Slots
    from sweep.session.stored import Stored
    from sweep.session.target import TargetPlan
    from sweep.studio.backend import Backend
    from sweep.studio.client import StudioClient
    from sweep.studio.socket import ProjectSocket

from sweep.commands.reading import print_best, refresh_report

__all__ = ["RunFlags", "confirm", "run", "run_study"]


@dataclass(frozen=True)
class RunFlags:
    """The choices of one ``sweep run`` (its flags), the same for every study of a batch."""

    trials: int | None = None
    storage: str | None = None
    learn_blocks: list[int] | None = None
    slots: list[int] | None = None
    stale_after: str | None = None
    write_report: bool = True
    quiet: bool = False
    baseline: bool = True
    enqueue: Path | None = None
    on_stop: OnStop = "cancel"
    live: bool | None = None  # the live status line: None = on when stderr and stdout are terminals


def run(study_file: Path, settings: Settings, *, trials: int | None = None, storage: str | None = None,
        learn_blocks: list[int] | None = None, slots: list[int] | None = None, stale_after: str | None = None,
        write_report: bool = True, quiet: bool = False, baseline: bool = True, enqueue: Path | None = None,
        on_stop: OnStop = "cancel", events: Events | None = None, live: bool | None = None) -> int:
    """``sweep run STUDY``: run or resume the study's trials (see :func:`run_study`); 0, or raise its error."""
    flags = RunFlags(trials=trials, storage=storage, learn_blocks=learn_blocks, slots=slots, stale_after=stale_after,
                     write_report=write_report, quiet=quiet, baseline=baseline, enqueue=enqueue, on_stop=on_stop,
                     live=live)
    return run_study(study_file, settings, flags, events=events).exit_code


def run_study(study: Path | StudySpec, settings: Settings, flags: RunFlags | None = None, *,
              events: Events | None = None, check: bool = True) -> RunResult:
    """Run or resume a study (a file, or one already loaded); every check that needs no server comes first, so
    a refused run writes nothing (no data dir, no journal, no report, no clone). Its events go to ``events``
    (the ``error`` event, then ``study_done`` when the run had started, when it ends with an error).

    ``check``: an error (or Ctrl-C) is raised, as :class:`SweepError` (KeyboardInterrupt outside the trials'
    loop); otherwise it is returned as the result's exit code and outcome."""
    from sweep.run.events import Events

    events = events or Events()
    file = study.path if isinstance(study, StudySpec) else Path(study)
    started = _Started(events)
    try:
        return _run(study, settings, flags or RunFlags(), started)
    except (SweepError, KeyboardInterrupt) as exc:
        code, message = (exc.exit_code, str(exc)) if isinstance(exc, SweepError) else (130, interrupt_reason(exc))
        started.events.error(message=message, exit_code=code, file=str(file))
        result = started.result(file, code, message)
        if started.study is not None:
            started.done(result)
        if check:
            raise
        return result


@dataclass
class _Started:
    """How far a run got, for what its end reports: the study's name, its runners (the baseline's, the study's),
    its study once open."""

    events: Events
    name: str | None = None
    runner: Runner | None = None
    baseline: Runner | None = None
    study: optuna.Study | None = None
    report: Path | None = None

    def result(self, file: Path, code: int, error: str | None = None) -> RunResult:
        from sweep.run.tally import RunSummary

        if self.study is None:
            return RunResult(self.name, file, code, outcome_text(code, None, error=error), error=error)
        summary = self.runner.summary if self.runner is not None else RunSummary()
        if self.baseline is not None:  # the baseline's trainings are this run's too: say what they did
            summary = dataclasses.replace(summary, baseline=dataclasses.replace(self.baseline.summary))
        done, best = _study_counts(self.study)
        return RunResult(self.name, file, code, outcome_text(code, summary, done, error), summary, done, best,
                         self.report, error)

    def done(self, result: RunResult) -> None:
        """The ``study_done`` event: the last of a run that started."""
        self.events.study_done(exit_code=result.exit_code, summary=dataclasses.asdict(result.summary),
                               complete_in_study=result.complete_in_study,
                               stopped_reason=result.summary.stopped_reason, best=result.best)


def _run(study_or_file: Path | StudySpec, settings: Settings, flags: RunFlags, started: _Started) -> RunResult:
    from sweep.run.budget import show_quota
    from sweep.run.impulse_check import refuse_local_image_window
    from sweep.run.progress import Progress
    from sweep.run.warm import enqueue_configs, warm_sources, warm_start
    from sweep.session import stored
    from sweep.session.target import plan_target
    from sweep.study.configs import load_enqueue_file

    spec = study_or_file if isinstance(study_or_file, StudySpec) else load_study(study_or_file, settings)
    started.name, started.events = spec.name, started.events.for_study(spec.name)
    target_trials = choose(flag=flags.trials, default=spec.trials).value  # the file always names its trials
    if target_trials < 1:
        raise SettingsError("--trials", f"must be at least 1 (got {target_trials})")
    found = stored.find(spec, stored.storage_url(spec, flags.storage, settings), settings)
    if found.study is not None:
        stored.check_compatible(found.study, spec)
    sources = warm_sources(spec, found, settings)
    given = load_enqueue_file(flags.enqueue, spec) if flags.enqueue is not None else []
    plan = plan_target(spec, settings, found.study, flags.learn_blocks, flags.slots)
    refuse_local_image_window(spec)
    stale_after_s = _stale_after(flags.stale_after, settings)
    _refuse_busy(found.study, plan, stale_after_s, spec.target.slot_count)
    progress = Progress(quiet=flags.quiet, live=flags.live, events=started.events)
    try:
        with _working(spec, settings, plan, found, progress, flags.slots or flags.learn_blocks,
                      baseline=flags.baseline and spec.baseline) as work:
            options = _options(spec, target_trials, work.polling, stale_after_s, found, flags.on_stop,
                               work.keep_running)
            progress.info(f"study {spec.name!r}: {target_trials} trials on {work.description}")
            started.study = work.study  # the run has really started: a report is due, and study_done
            started.events.run_started(file=str(spec.path), target=work.target, storage=redact_url(found.url),
                                       trials=target_trials, done=_study_counts(work.study)[0],
                                       learn_blocks=work.learn_ids, on_stop=flags.on_stop)
            show_quota(work.client, progress)
            warm_start(spec, work.study, sources, progress)
            if given:
                enqueue_configs(work.study, given, str(flags.enqueue), progress)
            _trials(spec, work, options, progress, flags.baseline, started)
    finally:
        if started.study is not None and flags.write_report:
            started.report = refresh_report(started.study, spec, settings, progress)
    return _finish(spec, started, progress)


def _trials(spec: StudySpec, work: _Work, options: RunOptions, progress: Progress, baseline: bool,
            started: _Started) -> None:
    """The baseline (a new study's, unless refused), then the study's own trials."""
    from sweep.run.runner import Runner

    if baseline and spec.baseline:
        from sweep.run.fixed_runs import baseline_runner

        started.baseline = baseline_runner(spec, work.study, work.client, work.learn_ids, options, progress,
                                           work.events)
        if started.baseline is not None:
            started.baseline.run()
    started.runner = Runner(spec, work.study, work.client, work.learn_ids, options, progress=progress,
                            events=work.events)
    started.runner.run()


def _finish(spec: StudySpec, started: _Started, progress: Progress) -> RunResult:
    """The run went well: say so (counts, the best, against the baseline), and its ``study_done`` event."""
    assert started.study is not None and started.runner is not None
    result = started.result(spec.path, 0)
    progress.warn(result.outcome)
    print_best(started.study, spec, sys.stderr)
    started.done(result)
    return result


def _study_counts(study: optuna.Study) -> tuple[int, list[dict[str, Any]]]:
    """The study's complete trials, and its best ones (the feasible Pareto front) with their values."""
    from optuna.trial import TrialState

    from sweep.report.status import best_trials

    done = sum(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False))
    return done, [{"trial": t.number, "values": list(t.values or [])} for t in best_trials(study)]


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
    from sweep.session.side import CONFIRM, enqueue, open_side, pending
    from sweep.session.target import plan_target

    for flag, value in (("--top", top), ("--repeats", repeats)):
        if value < 1:
            raise SettingsError(flag, f"must be at least 1 (got {value})")
    spec = load_study(study_file, settings)
    found = stored.find(spec, stored.storage_url(spec, storage, settings), settings)
    if found.study is None:
        raise UsageError(f"no study named {spec.name!r} in {redact_url(found.url)}; run `sweep run {spec.path}` first")
    stored.check_compatible(found.study, spec)
    chosen = top_trials(found.study, top)
    if not chosen:
        raise UsageError(f"study {spec.name!r} has no completed feasible trial to confirm yet")
    plan = plan_target(spec, settings, found.study, learn_blocks, slots)
    stale_after_s = _stale_after(stale_after, settings)
    _refuse_busy(found.study, plan, stale_after_s, spec.target.slot_count)
    progress = Progress(quiet=quiet)
    with _working(spec, settings, plan, found, progress, slots or learn_blocks) as work:
        side = open_side(work.study, CONFIRM)
        items = confirm_items(work.study, spec, chosen, repeats, baseline_trial(work.study))
        queued = enqueue(side, items)
        progress.info(f"confirm: trials {', '.join(str(t.number) for t in chosen)}"
                      + (" and the baseline" if baseline_trial(work.study) else "")
                      + f", {repeats} more trainings each with other seeds ({queued} queued now) on {work.description}")
        ran = run_side(spec, work.study, side, work.client, work.learn_ids,
                       _options(spec, len(items), work.polling, stale_after_s, found), progress, work.events)
    if ran.stopped_reason and (left := pending(side)):
        progress.warn(f"confirm stopped: {ran.stopped_reason}; {left} of {len(items)} training(s) not run, queued "
                      "for the next `sweep confirm` (repeats count against compute_budget, with the study's "
                      "trials, baseline, feature and profiling jobs)")
    for line in confirmed_lines(work.study, [o.metric for o in spec.objectives]):
        progress.warn(line)
    if write_report:
        refresh_report(work.study, spec, settings, progress)
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
    target: str  # the project it runs on (no secret: names and addresses only)
    keep_running: Callable[[int], None] | None = None  # keeps a job left running past the run (local studio)


@contextlib.contextmanager
def _working(spec: StudySpec, settings: Settings, plan: TargetPlan, found: Stored, progress: Progress,
             worker: list[int] | None, *, baseline: bool = False) -> Iterator[_Work]:
    """Connect, open the study, decide its baseline (``baseline``: a new study's is queued, or skipped when the
    target cannot train it) and ready its slots (the impulse limit checked before any clone) for as long as the
    run lasts; the socket is closed before the local studio stops."""
    import threading

    from sweep.run.follow import Follower, Polling
    from sweep.session import stored
    from sweep.session.compute import Account, settle
    from sweep.session.resolver import check_connected, check_planned
    from sweep.session.target import connect
    from sweep.studio.socket import project_socket

    if plan.home is not None and plan.home.note:
        progress.info(plan.home.note)
    check_planned(spec, plan)  # the metric names a local project cannot report: before its server starts
    with connect(spec, settings, plan) as conn, \
            project_socket(conn.client.base_url, conn.client.socket_token, enabled=settings.socket) as events:
        polling = Polling.from_settings(settings, conn.poll_max_s)
        setup = _plan_slots(spec, conn.client, plan, found.study, progress)
        if spec.space.tunes_impulse:
            _check_impulse(spec, conn.client, setup)
        check_connected(spec, conn.client, plan.learn_ids, [setup[1].source_learn.type] if setup else None)
        opened = stored.create(spec, found, worker=",".join(map(str, worker or [])))
        stored.record_study_attrs(opened, spec)
        if told := conn.record_studio(spec, opened):  # before any clone: which studio holds them
            progress.warn(told)
        settle(opened, conn.client)  # the compute of jobs an earlier run followed but did not see end
        source = setup[1].source_learn.id if setup is not None else plan.learn_ids[0]
        if baseline:  # before any job: the slots' features are made next
            from sweep.run.fixed_runs import queue_baseline

            queue_baseline(spec, opened, conn.client, source, progress)
        learn_ids = _learn_ids(opened, plan, setup, conn.client, Follower(
            conn.client, polling=polling, stop=threading.Event(), events=events, account=Account(opened, "setup")),
            progress)
        yield _Work(conn.client, events, opened, learn_ids, source, polling,
                    f"{conn.description}, learn blocks {learn_ids}; storage {redact_url(found.url)}", conn.description,
                    conn.keep_running)
        settle(opened, conn.client)  # the profiling jobs no trial waited for, ended by now


def _options(spec: StudySpec, target_trials: int, polling: Polling, stale_after_s: float, found: Stored,
             on_stop: OnStop = "cancel", keep_running: Callable[[int], None] | None = None) -> RunOptions:
    """The run's options; ``found.models``: where complete trials' model files are kept (None: not kept);
    ``keep_running``: the target's way to keep a job left running (``--on-stop leave``) past the run."""
    from sweep.run.runner import RunOptions

    return RunOptions(
        target_trials=target_trials, time_limit_s=spec.time_limit_s, compute_budget_s=spec.compute_budget_s,
        max_consecutive_failures=spec.max_consecutive_failures, job_timeout_s=spec.timeout_per_job_s,
        polling=polling, stale_after_s=stale_after_s, models=found.models, on_stop=on_stop,
        keep_running=keep_running if on_stop == "leave" else None)


def _refuse_busy(study: optuna.Study | None, plan: TargetPlan, stale_after_s: float, slot_count: int) -> None:
    """One job per learn block across the study's workers: a block (or slot) a live worker uses is refused."""
    from sweep.run.slots import recorded_learn_ids
    from sweep.run.workers import Workers

    if study is None:
        return
    if plan.uses_slots:
        slot_of = {lid: number for number, lid in recorded_learn_ids(study, range(1, slot_count + 1)).items()}
        mine = [lid for lid, number in slot_of.items() if number in plan.slot_numbers]
        Workers(study, mine, stale_after_s, slot_of).refuse_busy_blocks(slot_count)
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


def _check_impulse(spec: StudySpec, backend: Backend, setup: tuple[Slots, SlotPlan] | None) -> None:
    """A whole-impulse study: its DSP and window parameters against the live source impulse, on clones only."""
    from sweep.errors import StudyFileError
    from sweep.run.impulse_check import check_impulse_space

    if setup is None:
        field = "space.dsp" if spec.space.dsp else "space.window"
        raise StudyFileError(str(spec.path), field, "(set)", "tuning the impulse needs slots (target.slots, cloned "
                             "impulses): on named learn blocks it would change your own impulse's DSP blocks")
    check_impulse_space(spec, backend, setup[1].source)


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
