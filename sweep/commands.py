"""What each CLI command does, on the library side (the CLI only parses and maps errors)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from sweep.errors import ApiError, ProtocolError, SettingsError, StudyFileError, UsageError
from sweep.follow import Polling
from sweep.progress import Progress
from sweep.records import compute_used_s
from sweep.settings import Settings, load_settings
from sweep.storage import (
    check_directions,
    check_storage_url,
    default_storage_url,
    existing_study,
    load_or_create,
    open_storage,
    peek_storage,
    redact_url,
)
from sweep.study import StudySpec, load_study
from sweep.units import duration

if TYPE_CHECKING:
    from sweep.studio.client import StudioClient

__all__ = ["cmd_best", "cmd_compare", "cmd_import", "cmd_report", "cmd_run", "cmd_serve", "cmd_status"]


def _directions(spec: StudySpec) -> list[str]:
    return [o.direction for o in spec.objectives]


def _storage_url(spec: StudySpec, flag: str | None, settings: Settings) -> str:
    """flag > study file > environment > default, decided here once; a bad URL names where it came from
    (the study file's own was checked when the file loaded)."""
    if flag:
        return check_storage_url(flag, "--storage")
    if spec.storage:
        return spec.storage
    if settings.storage:
        return check_storage_url(settings.storage, "SWEEP_STORAGE")
    return default_storage_url(spec.path, spec.name, settings.state_dir)


def _existing(spec: StudySpec, url: str) -> tuple[BaseStorage | None, optuna.Study | None]:
    """The storage and the study if they already exist; nothing is created either way."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = peek_storage(url)
    return storage, existing_study(storage, spec.name)


def _open_existing(spec: StudySpec, url: str) -> optuna.Study:
    """The study for commands that only read it; one that never ran is an error, and leaves no file."""
    study = _existing(spec, url)[1]
    if study is None:
        raise UsageError(f"no study named {spec.name!r} in {redact_url(url)}; run `sweep run {spec.path}` first")
    check_directions(study, _directions(spec))  # its values are read by the file's objectives
    return study


def _check_compatible(study: optuna.Study, spec: StudySpec) -> None:
    """An existing study takes this run's trials only with the same directions and target."""
    check_directions(study, _directions(spec))
    ran_on = study.user_attrs.get("target")
    if ran_on is not None and ran_on != spec.target.label:
        # Its RUNNING trials hold job ids of the other target: re-attaching them here would be wrong.
        raise StudyFileError(str(spec.path), "target", spec.target.label,
                             f"study {spec.name!r} already ran on {ran_on}; it cannot take trials from another "
                             "target: give this run another study name or storage")


def _create_study(spec: StudySpec, storage: BaseStorage, existing: optuna.Study | None, worker: str
                  ) -> optuna.Study:
    from sweep.pruning import make_pruner
    from sweep.sampler import make_sampler

    # A resumed run must not replay the first run's seeded draws: shift the seed by the trials so far.
    n_existing = len(existing.get_trials(deepcopy=False)) if existing is not None else 0
    sampler = make_sampler(spec.sampler, spec, n_existing_trials=n_existing, worker=worker)
    return load_or_create(storage, spec.name, _directions(spec), sampler, make_pruner(spec))


def _record_study_attrs(study: optuna.Study, spec: StudySpec) -> None:
    wanted: dict[str, Any] = {
        "study_file": str(spec.path),
        "target": spec.target.label,
        "objectives": [o.metric for o in spec.objectives],
        "directions": _directions(spec),
        "constraints": [str(c) for c in spec.constraints],
        "device": spec.device,
    }
    current = study.user_attrs
    for key, value in wanted.items():
        if current.get(key) != value:
            study.set_user_attr(key, value)


def cmd_run(args: argparse.Namespace) -> int:
    from sweep.runner import RunOptions, Runner
    from sweep.target import connect, plan_target
    from sweep.workers import Workers

    settings = load_settings()
    spec = load_study(args.study, settings)
    trials = args.trials if args.trials is not None else spec.trials
    if trials < 1:
        raise SettingsError("--trials", f"must be at least 1 (got {trials})")
    blocks = _parse_blocks(args.learn_blocks) if args.learn_blocks else None
    url = _storage_url(spec, args.storage, settings)
    # Every check that needs no server comes first: a refused run writes nothing (no data dir,
    # no journal, no report).
    storage, existing = _existing(spec, url)
    if existing is not None:
        _check_compatible(existing, spec)
    plan = plan_target(spec, settings, blocks)
    stale_after_s = _stale_after(args.stale_after, settings)
    if existing is not None:
        Workers(existing, plan.learn_ids, stale_after_s).refuse_busy_blocks()
    progress = Progress(quiet=args.quiet)
    study: optuna.Study | None = None  # set once the run really starts: only then is a report due
    try:
        with connect(spec, settings, plan) as conn:
            opened = _create_study(spec, storage or open_storage(url), existing,
                                   worker=",".join(map(str, blocks or [])))
            _record_study_attrs(opened, spec)
            progress.info(f"study {spec.name!r}: {trials} trials on {conn.description}, "
                          f"learn blocks {conn.learn_ids}; storage {redact_url(url)}")
            _show_quota(conn.client, progress)
            options = RunOptions(
                target_trials=trials,
                time_limit_s=spec.time_limit_s,
                compute_budget_s=spec.compute_budget_s,
                max_consecutive_failures=spec.max_consecutive_failures,
                job_timeout_s=spec.timeout_per_job_s,
                polling=_polling(settings, conn.poll_max_s),
                stale_after_s=stale_after_s,
            )
            study = opened
            summary = Runner(spec, study, conn.client, conn.learn_ids, options, progress=progress).run()
    finally:
        if study is not None and not args.no_report:
            _refresh_report(study, spec, settings, progress)
    done = sum(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False))
    progress.warn(f"done: {summary.completed} completed, {summary.failed} failed, "
                  + (f"{summary.pruned} pruned, " if summary.pruned else "") + f"{summary.reused} reused, "
                  f"{summary.reattached} re-attached in this run; {done} complete in the study"
                  + (f" ({summary.stopped_reason})" if summary.stopped_reason else ""))
    _print_best(study, spec, sys.stderr)
    return 0


def _stale_after(flag: str | None, settings: Settings) -> float:
    """--stale-after > SWEEP_STALE_AFTER_S > 180 s; at least two heartbeats, or a live worker looks dead."""
    from sweep.runner import HEARTBEAT_S
    from sweep.study import parse_duration

    field, value = ("--stale-after", flag) if flag is not None else ("SWEEP_STALE_AFTER_S", settings.stale_after_s)
    try:
        seconds = float(parse_duration(value))
    except (ValueError, TypeError):
        raise SettingsError(field, f"not a duration: use seconds (e.g. 300) or text like '5m' (got {value!r})") from None
    if seconds < 2 * HEARTBEAT_S:
        raise SettingsError(field, f"must be at least {2 * HEARTBEAT_S:.0f} s, twice the {HEARTBEAT_S:.0f} s heartbeat "
                                   f"of a running trial (got {value!r})")
    return seconds


def _polling(settings: Settings, target_cap_s: float | None) -> Polling:
    """The settings' polling, with the target's cap unless SWEEP_POLL_MAX_S was set explicitly."""
    cap = settings.poll_max_s
    if target_cap_s is not None and "poll_max_s" not in settings.model_fields_set:
        cap = target_cap_s
    return Polling(min(settings.poll_initial_s, cap), settings.poll_factor, cap)


def _show_quota(client: "StudioClient", progress: Progress) -> None:
    """Say what the project's compute quota allows; a project we may not read is no reason to stop."""
    try:
        info = client.project_info()
    except (ApiError, ProtocolError) as exc:
        progress.info(f"compute quota unknown ({exc})")
        return
    left_min = info.compute_time.time_left_ms / 60000
    progress.info(f"compute quota: {left_min:.0f} min left this period; at most {info.performance.job_limit_m} min per job")


def _parse_blocks(text: str) -> list[int]:
    try:
        blocks = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SettingsError("--learn-blocks", f"not a comma-separated list of learn block ids: {text!r}") from None
    if not blocks or len(set(blocks)) != len(blocks) or min(blocks) < 1:
        raise SettingsError("--learn-blocks", f"give distinct positive learn block ids (got {text!r})")
    return blocks


def _refresh_report(study: optuna.Study, spec: StudySpec, settings: Settings, progress: Progress) -> None:
    try:
        from sweep.report.build import write_report

        path = write_report(study, settings.reports_dir / spec.name, study_file=str(spec.path), device=spec.device)
        progress.info(f"report: {path}")
    except Exception as exc:  # noqa: BLE001 - a report problem must not hide the sweep's own outcome
        progress.warn(f"could not write the report: {type(exc).__name__}: {exc}")


def _best_trials(study: optuna.Study) -> list[FrozenTrial]:
    try:
        return [study.best_trial] if len(study.directions) == 1 else list(study.best_trials)
    except ValueError:
        return []


def _print_best(study: optuna.Study, spec: StudySpec, stream: Any) -> None:
    names = [o.metric for o in spec.objectives]
    for t in _best_trials(study):
        shown = " ".join(f"{n}={v:.4g}" for n, v in zip(names, t.values or []))
        print(f"best: trial {t.number} {shown} job {t.user_attrs.get('job_id')}", file=stream)


def cmd_status(args: argparse.Namespace) -> int:
    import pandas as pd

    settings = load_settings()
    spec = load_study(args.study, settings)
    study = _open_existing(spec, _storage_url(spec, args.storage, settings))
    names = [o.metric for o in spec.objectives]
    best = {t.number for t in _best_trials(study)}
    rows = []
    for t in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {"trial": t.number, "state": t.state.name, "job": t.user_attrs.get("job_id")}
        row.update(t.params)
        for i, n in enumerate(names):
            row[n] = t.values[i] if t.values else None
        row["best"] = "*" if t.number in best else ""
        row["note"] = t.user_attrs.get("failure") or (f"= trial {t.user_attrs['duplicate_of']}"
                                                      if "duplicate_of" in t.user_attrs else "")
        rows.append(row)
    if not rows:
        print(f"study {spec.name!r}: no trials yet")
        return 0
    frame = pd.DataFrame(rows).set_index("trial")
    with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 60):
        print(frame.to_string(na_rep="-", float_format=lambda v: f"{v:.4g}"))
    counts = frame["state"].value_counts().to_dict()
    jobs = compute_used_s(study.get_trials(deepcopy=False))
    print("\n" + ", ".join(f"{n} {s.lower()}" for s, n in counts.items())
          + f"; job compute {duration(sum(jobs))} over {len(jobs)} finished job(s) (reused trials cost none)")
    _print_best(study, spec, sys.stdout)
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    from sweep.studio.models import SetKerasParameterRequest
    from sweep.target import connect, plan_target

    settings = load_settings()
    spec = load_study(args.study, settings)
    study = _open_existing(spec, _storage_url(spec, args.storage, settings))
    if args.trial is not None:
        trials = [t for t in study.get_trials(deepcopy=False) if t.number == args.trial]
        if not trials or trials[0].state != TrialState.COMPLETE:
            raise UsageError(f"--trial {args.trial}: no completed trial with that number in study {spec.name!r}")
    else:
        trials = _best_trials(study)
    if not trials:
        raise UsageError(f"study {spec.name!r} has no completed (feasible) trial yet")
    if args.apply and len(trials) > 1:
        numbers = ", ".join(str(t.number) for t in trials)
        raise UsageError(f"--apply: the study has {len(trials)} Pareto-optimal trials ({numbers}); choose one with --trial N")
    bodies = [t.user_attrs.get("request") for t in trials]
    if len(bodies) == 1:
        print(json.dumps(bodies[0], indent=2, sort_keys=True))
    else:
        print(json.dumps({str(t.number): b for t, b in zip(trials, bodies)}, indent=2, sort_keys=True))
    if args.apply:
        with connect(spec, settings, plan_target(spec, settings)) as conn:
            learn_id = conn.learn_ids[0]
            conn.client.save_keras_config(learn_id, SetKerasParameterRequest.model_validate(bodies[0]))
            print(f"applied trial {trials[0].number}'s configuration to learn block {learn_id} "
                  f"({conn.description})", file=sys.stderr)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from sweep.report.build import write_report

    settings = load_settings()
    spec = load_study(args.study, settings)
    study = _open_existing(spec, _storage_url(spec, args.storage, settings))
    out = args.out or settings.reports_dir / spec.name
    print(write_report(study, out, study_file=str(spec.path), device=spec.device))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from sweep.report.build import write_comparison

    settings = load_settings()
    specs = [load_study(p, settings) for p in args.studies]
    studies = [_open_existing(s, _storage_url(s, None, settings)) for s in specs]
    out = args.out or settings.reports_dir / ("compare-" + "-".join(s.name for s in specs))
    print(write_comparison(studies, out))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from sweep.local.serve import main as serve_main

    if args.data_dir is None:
        args.data_dir = load_settings().data_dir
    try:
        return int(serve_main(args) or 0)
    except KeyboardInterrupt:  # uvicorn re-raises SIGINT/SIGTERM after a clean shutdown: that is a normal stop
        return 0


def cmd_import(args: argparse.Namespace) -> int:
    from sweep.local.datasets import import_features

    data_dir = args.data_dir or load_settings().data_dir
    labels = [s.strip() for s in args.labels.split(",")] if args.labels else None
    shape = tuple(int(s) for s in args.shape.split(",")) if args.shape else None
    project = import_features(Path(data_dir), args.name, args.x_path, args.y_path, labels, shape)
    print(f"imported {project.name!r} as local project {project.id} (learn blocks {project.learn_block_ids})")
    return 0
