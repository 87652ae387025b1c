"""Report entry points: a study -> reports/<study>/ and several studies -> a comparison page."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import optuna
import pandas as pd

from sweep.report import frame as fr
from sweep.report import plots, sections
from sweep.report.compare import best_table, history_frames, shared_objective
from sweep.report.page import Page, Section, Table, Text, write_csv, write_html, write_markdown
from sweep.report.params import param_names
from sweep.report.sections import Report, plot
from sweep.study.space import Space
from sweep.units import metric_text

__all__ = ["write_comparison", "write_report"]


def _page_sections(r: Report) -> list[Section]:
    return [sections.history_section(r), sections.importance_section(r), sections.parameters_section(r),
            *sections.front_sections(r), *sections.model_sections(r), sections.top_section(r),
            sections.failed_section(r)]


def write_report(study: optuna.Study, out_dir: Path, *, study_file: str | None = None, device: str | None = None,
                 top_n: int = 5, space: Space | None = None) -> Path:
    """Write ``index.html`` (self-contained), ``report.md`` + PNGs and ``trials.csv``; return index.html.

    ``space`` (the study file's) names the params of a study that recorded no outline of its own."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = param_names(study, space)
    df = fr.trials_frame(study, names=names)
    r = Report(study, df, fr.objectives_of(study), names, fr.resolve_device(study, df, device),
               fr.top_trials(study, top_n))
    page_sections = [sections.summary_section(r, study_file or study.user_attrs.get("study_file"))]
    if (confirmed := sections.confirmed_section(r)) is not None:
        page_sections.append(confirmed)
    if (finals := sections.finals_section(r)) is not None:
        page_sections.append(finals)
    page_sections += _page_sections(r)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = Page(f"Sweep report: {study.study_name}",
                f"Generated {stamp}. Every trial: trials.csv (raw values: accuracy as a fraction 0-1, sizes in "
                "bytes, times in ms and s; a param a trial did not use is empty).", page_sections)
    elapsed = time.perf_counter() - started
    page.sections.append(Section("About this report", [Text(f"Built in {elapsed:.1f} s from {len(df)} trials.")]))
    write_csv(df, out_dir / "trials.csv")
    write_markdown(page, out_dir / "report.md")
    return write_html(page, out_dir / "index.html")


def _shown_cell(field: str, value: object) -> object:
    """A best-table cell in its unit; counts, trial numbers and params stay as they are."""
    if field in ("trials", "complete", "failed", "best trial") or field.startswith("param "):
        return value
    if not isinstance(value, (int, float)) or isinstance(value, bool) or pd.isna(value):
        return value
    return metric_text(re.sub(r" \((maximize|minimize)\)$", "", field), float(value))


def write_comparison(studies: list[optuna.Study], out_dir: Path, spaces: list[Space | None] | None = None) -> Path:
    """Best-so-far curves, ECDF of the first objective and the best configuration of each study
    (``spaces``: each study file's, naming the params of a study that recorded no outline)."""
    if not studies:
        raise ValueError("write_comparison needs at least one study")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name, direction, notes = shared_objective(studies)
    frames = history_frames(studies)
    sec = Section("Best so far")
    sec.blocks += [Text(n, "note") for n in notes]
    if any(len(f) for f in frames.values()):
        plot(sec, "compare_history.png", "Best-so-far per study",
             lambda: plots.compare_history_figure(frames, name, direction))
        plot(sec, "compare_ecdf.png", "Empirical distribution of the first objective",
             lambda: plots.ecdf_figure({k: f for k, f in frames.items() if len(f)}, name))
    else:
        sec.blocks.append(Text("No study has a complete trial yet.", "note"))
    best = best_table(studies, [param_names(s, sp) for s, sp in zip(studies, spaces or [None] * len(studies),
                                                                     strict=True)])
    write_csv(best, out_dir / "best.csv")
    shown = best.astype(object)
    for i, key in enumerate(shown["field"]):
        shown.iloc[i, 1:] = [_shown_cell(str(key), v) for v in shown.iloc[i, 1:]]
    table = Section("Best configuration of each study", [
        Text("Each study's best trial (feasible first, by its first objective); accuracy in %, sizes in KiB; raw "
             "values in best.csv."),
        Table(shown)])
    names = ", ".join(s.study_name for s in studies)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = Page(f"Sweep comparison: {names}", f"Generated {stamp}. Objective: {name} ({direction}).", [sec, table])
    write_markdown(page, out_dir / "report.md")
    return write_html(page, out_dir / "index.html")
