"""Commands that read a study and end it well: status, best (and --apply), report, compare, dashboard, cleanup."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sweep.errors import SettingsError, UsageError, install_hint
from sweep.settings import Settings
from sweep.study.load import load_study
from sweep.study.spec import StudySpec
from sweep.units import metrics_text

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from sweep.run.progress import Progress
    from sweep.session.target import TargetPlan


__all__ = ["best", "best_records", "cleanup", "compare", "compare_studies", "dashboard", "open_study", "print_best",
           "refresh_report", "report", "report_study", "status", "trials_table"]


def refresh_report(study: optuna.Study, spec: StudySpec, settings: Settings, progress: Progress) -> Path | None:
    """Write the study's report after a run; its index.html (None: it could not be written, as said)."""
    try:
        from sweep.report.build import write_report

        path = write_report(study, settings.reports_dir / spec.name, study_file=str(spec.path), device=spec.device,
                            space=spec.space)
        progress.info(f"report: {path}")
        return path
    except Exception as exc:  # noqa: BLE001 - a report problem must not hide the sweep's own outcome
        progress.warn(f"could not write the report: {type(exc).__name__}: {exc}")
        return None


def print_best(study: optuna.Study, spec: StudySpec, stream: TextIO) -> None:
    """The best trials, then the best against the baseline and what confirmation said (the end of ``run`` and
    ``status``), each line fitted to 100 columns."""
    from sweep.report.status import best_trials

    names = [o.metric for o in spec.objectives]
    chosen = best_trials(study)
    for t in chosen:
        shown = metrics_text(zip(names, t.values or [], strict=False))
        _say(f"best: trial {t.number}: {shown} (job {t.user_attrs.get('job_id')})", stream)
    _print_verdicts(study, spec, chosen, stream)


def _print_verdicts(study: optuna.Study, spec: StudySpec, chosen: list[FrozenTrial], stream: TextIO) -> None:
    """The best against the baseline, and what confirmation repeats said."""
    from sweep.report.versus import confirmed_lines, versus_baseline

    names = [o.metric for o in spec.objectives]
    up = spec.objectives[0].direction == "maximize"
    lead = sorted(chosen, key=lambda t: ((-1 if up else 1) * (t.values or [0.0])[0], t.number))  # as the report
    if lead and (against := versus_baseline(study, lead[0], names, spec.device)):
        _say(against, stream)
    for line in confirmed_lines(study, names):
        _say(f"confirmed: {line}", stream)


def _say(line: str, stream: TextIO, width: int = 100) -> None:
    """One line for people, wrapped to ``width`` columns (the rest indented), as ``sweep status`` promises."""
    import textwrap

    print(textwrap.fill(line, width, subsequent_indent="  ", break_on_hyphens=False), file=stream)


def open_study(study: Path | StudySpec, settings: Settings, storage: str | None) -> tuple[StudySpec, optuna.Study]:
    """The study file (or a study already loaded) and its study, for commands that only read it."""
    from sweep.session import stored

    spec = study if isinstance(study, StudySpec) else load_study(study, settings)
    return spec, stored.open_existing(spec, stored.storage_url(spec, storage, settings))


def dashboard(study_file: Path, settings: Settings, *, storage: str | None = None, host: str = "127.0.0.1",
              port: int = 8080) -> int:
    """Serve optuna-dashboard on the study's storage (objective names set, constraints shown) until Ctrl-C."""
    try:
        import optuna_dashboard  # noqa: F401 - the extra, checked before the study is opened

        from sweep.report.dashboard import ConstraintListView, best_lines, panel_trials, serve_dashboard
    except ImportError:
        raise SettingsError("sweep dashboard", f"needs the dashboard extra: {install_hint('dashboard')}") from None
    from optuna.artifacts import FileSystemArtifactStore

    from sweep.session.artifacts import artifact_place
    from sweep.session.stored import storage_url

    spec, study = open_study(study_file, settings, storage)
    models = artifact_place(spec, storage_url(spec, storage, settings), settings).path  # the trials' .tflite files
    view = ConstraintListView(study._storage, [str(c) for c in spec.constraints])
    shown = panel_trials(view, study._study_id)
    for line in best_lines(study, shown, [o.metric for o in spec.objectives]):
        print(line, file=sys.stderr)
    print(f"optuna-dashboard on study {spec.name!r}: http://{host}:{port}/dashboard/ (Ctrl-C stops it); "
          f"model files from {models}", file=sys.stderr)
    serve_dashboard(view, host=host, port=port, artifact_store=FileSystemArtifactStore(models))
    return 0


def status(study_file: Path, settings: Settings, *, storage: str | None = None, wide: bool = False) -> int:
    """Print every trial (state, params, objectives, job id, best) and the study's compute."""
    from sweep.report.status import status_table

    spec, study = open_study(study_file, settings, storage)
    print(status_table(study, spec, wide=wide))
    print_best(study, spec, sys.stdout)
    return 0


def best(study_file: Path, settings: Settings, *, storage: str | None = None, apply: bool = False,
         train: bool = False, trial: int | None = None, as_json: bool = False, model: Path | None = None) -> int:
    """Print the best trial(s) in trial order with metrics and exact request body (``as_json``: for scripts);
    with ``apply``, save it to the user's own learn block (the clones' source), with ``train`` train it there;
    with ``model``, first write their kept .tflite files into that folder."""
    from sweep.report.best import best_json, best_text
    from sweep.report.status import chosen_trials, write_models

    spec, study = open_study(study_file, settings, storage)
    trials = chosen_trials(study, spec, trial)
    if apply and len(trials) > 1:
        numbers = ", ".join(str(t.number) for t in trials)
        raise UsageError(f"--apply: the study has {len(trials)} Pareto-optimal trials ({numbers}); "
                         "choose one with --trial N")
    if train and not apply:
        raise UsageError("--train trains the applied configuration: give --apply too")
    plan = _plain_plan(spec, settings, study) if apply else None  # the studio checked before anything is done
    write_models(spec, storage, settings, trials, model, sys.stderr)  # --model DIR: each trial's .tflite files
    print(best_json(spec, trials, study) if as_json else best_text(spec, trials))
    if not as_json:
        _print_verdicts(study, spec, trials, sys.stdout)
        from sweep.report.finals import finals_lines

        for line in finals_lines(study):  # `sweep test`: validation beside test, never used to choose
            print(line)
    if plan is not None:
        attrs = trials[0].user_attrs
        _apply(spec, study, settings, plan, trials[0].number, attrs.get("request") or {}, train=train,
               seed=attrs.get("seed"), impulse=attrs.get("impulse"))
    return 0


def _apply(spec: StudySpec, study: optuna.Study, settings: Settings, plan: TargetPlan, number: int,
           body: dict[str, Any], *, train: bool, seed: int | None, impulse: dict[str, Any] | None) -> None:
    from sweep.run.finish import apply_best, source_learn_id
    from sweep.run.follow import Polling
    from sweep.run.progress import Progress
    from sweep.session.compute import Account
    from sweep.session.target import connect
    from sweep.study.request import TrainRequest

    progress = Progress(sys.stderr)
    account = Account(study, "apply")  # its feature and train jobs count in the study's compute
    with connect(spec, settings, plan) as conn:
        if told := conn.record_studio(spec, study):
            progress.warn(told)
        learn_id = source_learn_id(spec, study, conn.client, progress)
        polling = Polling.from_settings(settings, conn.poll_max_s)
        request = TrainRequest.recorded(body, impulse)
        if impulse is not None:  # its DSP parameters and window on your impulse first, and their features
            from sweep.run.follow import Follower
            from sweep.run.impulse_prep import ImpulsePrep

            follower = Follower(conn.client, polling=polling, stop=threading.Event(), account=account)
            request = ImpulsePrep(spec, conn.client, follower, progress).prepare_block(learn_id, request,
                                                                                       f"trial {number}")
        if train:
            progress.warn(f"training trial {number}'s configuration on learn block {learn_id}...")
        result = apply_best(conn.client, learn_id, request, train=train, polling=polling, seed=seed, account=account)
        progress.warn(f"applied trial {number}'s configuration to learn block {learn_id} ({conn.description})")
        if result is not None:
            shown = metrics_text((k, v) for k, v in sorted(result.metrics.items()) if k.count(".") == 1
                                 and k.endswith(("accuracy", "loss")))
            progress.warn(f"trained it there: job {result.job.id}; {shown}")


def _plain_plan(spec: StudySpec, settings: Settings, study: optuna.Study) -> TargetPlan:
    """A plan that reaches the study's project without claiming slots (the local studio started for one job)."""
    from sweep.session.target import TargetPlan, plan_target

    plan = plan_target(spec, settings, study, slots=[1] if spec.target.slot_count else None)
    return TargetPlan(learn_ids=plan.learn_ids, local_project_id=plan.local_project_id, home=plan.home)


def cleanup(study_file: Path, settings: Settings, *, storage: str | None = None, dry_run: bool = False) -> int:
    """Delete the clones this study made (and nothing else); with ``dry_run``, only say which."""
    from sweep.run.finish import cleanup as delete_clones
    from sweep.session.target import connect

    spec, study = open_study(study_file, settings, storage)
    with connect(spec, settings, _plain_plan(spec, settings, study)) as conn:
        if not dry_run and (told := conn.record_studio(spec, study)):
            print(told, file=sys.stderr)
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
    print(report_study(study_file, settings, storage=storage, out=out))
    return 0


def report_study(study: Path | StudySpec, settings: Settings, *, storage: str | None = None,
                 out: Path | None = None) -> Path:
    """Write the study's report (default ``reports/<study>/``); its index.html."""
    from sweep.report.build import write_report

    spec, opened = open_study(study, settings, storage)
    return write_report(opened, out or settings.reports_dir / spec.name, study_file=str(spec.path),
                        device=spec.device, space=spec.space)


def trials_table(study: Path | StudySpec, settings: Settings, *, storage: str | None = None) -> Any:
    """The report's trials frame (a pandas DataFrame): one row per trial, params named as the report names them."""
    from sweep.report.frame import trials_frame
    from sweep.report.params import param_names

    spec, opened = open_study(study, settings, storage)
    return trials_frame(opened, names=param_names(opened, spec.space))


def best_records(study: Path | StudySpec, settings: Settings, *, storage: str | None = None,
                 trial: int | None = None) -> list[dict[str, Any]]:
    """What ``sweep best --json`` prints, as Python: the best trial(s) (or trial ``trial``) in trial order."""
    import json

    from sweep.report.best import best_json
    from sweep.report.status import chosen_trials

    spec, opened = open_study(study, settings, storage)
    records: list[dict[str, Any]] = json.loads(best_json(spec, chosen_trials(opened, spec, trial), opened))
    return records


def compare(study_files: Sequence[Path], settings: Settings, *, out: Path | None = None,
            storage: str | None = None) -> int:
    """Write a comparison of several studies and print where."""
    print(compare_studies(study_files, settings, out=out, storage=storage))
    return 0


def compare_studies(studies: Sequence[Path | StudySpec], settings: Settings, *, out: Path | None = None,
                    storage: str | None = None) -> Path:
    """Write a comparison of several studies (default ``reports/compare-<names>/``); its index.html."""
    from sweep.report.build import write_comparison

    opened = [open_study(study, settings, storage) for study in studies]
    folder = out or settings.reports_dir / ("compare-" + "-".join(spec.name for spec, _ in opened))
    return write_comparison([study for _, study in opened], folder, [spec.space for spec, _ in opened])
