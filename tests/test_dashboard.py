"""sweep dashboard: optuna-dashboard over real HTTP on a study that ran, its objectives named, constraints shown."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import optuna
import pytest

from sweep.cli import main
from sweep.session.storage import open_storage

from fake_studio import FakeStudio
from runner_support import journal, load, run_sweep, sweep_cmd, sweep_env, write_study

CONSTRAINTS = ("int8.accuracy_drop <= 0.5", "cortex-m4f-80mhz.latency_ms <= 1000000")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(path: Path, folder: Path) -> tuple[subprocess.Popen[str], str, list[dict[str, Any]], str]:
    """`sweep dashboard` started and answering: the process, its address, its studies, what it printed first."""
    port = _free_port()
    server = subprocess.Popen(sweep_cmd("dashboard", str(path), "--port", str(port)), cwd=folder,
                              env=sweep_env("unused"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            studies = httpx.get(f"{base}/api/studies", timeout=5).json()["study_summaries"]
            break
        except httpx.TransportError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise AssertionError(f"the dashboard did not start: {server.communicate()[1]}") from None
            time.sleep(0.3)
    assert server.stderr is not None
    said = ""
    while "optuna-dashboard on study" not in said:
        said += server.stderr.readline()
    return server, base, studies, said


def _stop(server: subprocess.Popen[str]) -> None:
    """SIGTERM ends it (a hang is a failure, and still leaves nothing running)."""
    server.terminate()
    try:
        assert server.wait(timeout=30) == -signal.SIGTERM
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=30)


def test_the_dashboard_serves_the_study_with_named_objectives_and_its_constraints(tmp_path: Path) -> None:
    with FakeStudio(api_key="ei_secret_fake_key_0123456789") as studio:
        path = write_study(tmp_path, studio.base_url, trials=3, constraints=CONSTRAINTS,
                           objectives=(("int8.accuracy", "maximize"), ("default.ram_bytes", "minimize")))
        proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    study = load(tmp_path)
    server, base, studies, _ = _serve(path, tmp_path)
    try:
        (ours,) = [s for s in studies if s["study_name"] == "fake"]
        detail = httpx.get(f"{base}/api/studies/{ours['study_id']}", timeout=10).json()
        assert detail["objective_names"] == ["int8.accuracy", "default.ram_bytes"]
        served = {t["number"]: t["constraints"] for t in detail["trials"]}
        for t in study.get_trials():
            assert served[t.number] == pytest.approx([t.constraints[c] for c in CONSTRAINTS])  # in the file's order
        assert httpx.get(f"{base}/dashboard/", timeout=10).status_code == 200  # the page itself
    finally:
        _stop(server)


def test_without_the_extra_the_dashboard_names_the_readmes_install_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # as if the extra were not installed
    monkeypatch.chdir(tmp_path)
    assert main(["dashboard", "study.toml"]) == 2
    err = capsys.readouterr().err
    assert err == "sweep: error: sweep dashboard: needs the dashboard extra: pip install -e '.[dashboard]'\n"
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert "`pip install -e '.[dashboard]'`" in readme  # the hint is the README's own command
    assert not list(tmp_path.iterdir())


RAM = "cortex-m4f-80mhz.ram_bytes <= 32768"


def _study_of(tmp_path: Path, objectives: tuple[tuple[str, str], ...],
              trials: list[tuple[list[float], int]]) -> Path:
    """A study file and its study, made directly: each trial's values and its RAM, against the RAM constraint."""
    path = write_study(tmp_path, "http://127.0.0.1:9", trials=len(trials), constraints=(RAM,), objectives=objectives)
    study = optuna.create_study(study_name="fake", storage=open_storage(journal(tmp_path)),
                                directions=[d for _, d in objectives])
    for values, ram in trials:
        metrics = {"cortex-m4f-80mhz.ram_bytes": ram, **{m: v for (m, _), v in zip(objectives, values, strict=True)}}
        study.add_trial(optuna.trial.create_trial(values=values, user_attrs={"metrics": metrics},
                                                  system_attrs={f"constraints:{RAM}": ram - 32768.0}))
    return path


def test_the_dashboard_says_the_best_feasible_trials_and_warns_when_its_panel_ignores_constraints(
        tmp_path: Path) -> None:
    two = (("int8.accuracy", "maximize"), ("cortex-m4f-80mhz.latency_ms", "minimize"))
    # trial 0 beats trial 1 on both objectives but breaks the RAM limit: the dashboard's own front takes it
    path = _study_of(tmp_path, two, [([0.99, 0.5], 40_000), ([0.97, 0.6], 20_000), ([0.95, 0.3], 20_000)])
    server, base, studies, said = _serve(path, tmp_path)
    try:
        detail = httpx.get(f"{base}/api/studies/{studies[0]['study_id']}", timeout=10).json()
        assert sorted(t["number"] for t in detail["best_trials"]) == [0, 2]  # what its Best Trial panel shows
    finally:
        _stop(server)
    assert said.splitlines()[:6] == [
        "best feasible trials (constraints met; `sweep best` shows them):",
        "  trial 1: int8.accuracy 97 %, cortex-m4f-80mhz.latency_ms 0.6 ms",
        "  trial 2: int8.accuracy 95 %, cortex-m4f-80mhz.latency_ms 0.3 ms",
        "warning: optuna-dashboard's Best Trial panel ignores the constraints and will show trial 0, trial 2",
        "  trial 0 breaks cortex-m4f-80mhz.ram_bytes 39.1 KiB <= 32 KiB (broken)",
        f"optuna-dashboard on study 'fake': {base}/dashboard/ (Ctrl-C stops it); model files from "
        f"{tmp_path / '.sweep' / 'fake.artifacts'}"]


def test_a_one_objective_dashboard_shows_the_best_feasible_trial(tmp_path: Path) -> None:
    path = _study_of(tmp_path, (("int8.accuracy", "maximize"),), [([0.99], 40_000), ([0.97], 20_000)])
    server, base, studies, said = _serve(path, tmp_path)
    try:
        detail = httpx.get(f"{base}/api/studies/{studies[0]['study_id']}", timeout=10).json()
        assert [t["number"] for t in detail["best_trials"]] == [1]  # not trial 0, which breaks the RAM limit
    finally:
        _stop(server)
    assert said.startswith("best feasible trials (constraints met; `sweep best` shows them):\n"
                           "  trial 1: int8.accuracy 97 %\noptuna-dashboard on study")
