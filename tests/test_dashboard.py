"""sweep dashboard: optuna-dashboard over real HTTP on a study that ran, its objectives named, constraints shown."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sweep.cli import main

from fake_studio import FakeStudio
from runner_support import load, run_sweep, sweep_cmd, sweep_env, write_study

CONSTRAINTS = ("int8.accuracy_drop <= 0.5", "cortex-m4f-80mhz.latency_ms <= 1000000")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_dashboard_serves_the_study_with_named_objectives_and_its_constraints(tmp_path: Path) -> None:
    with FakeStudio(api_key="ei_secret_fake_key_0123456789") as studio:
        path = write_study(tmp_path, studio.base_url, trials=3, constraints=CONSTRAINTS,
                           objectives=(("int8.accuracy", "maximize"), ("default.ram_bytes", "minimize")))
        proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    study = load(tmp_path)
    port = _free_port()
    server = subprocess.Popen(sweep_cmd("dashboard", str(path), "--port", str(port)), cwd=tmp_path,
                              env=sweep_env("unused"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                studies = httpx.get(f"{base}/api/studies", timeout=5).json()["study_summaries"]
                break
            except httpx.TransportError:
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.3)
        (ours,) = [s for s in studies if s["study_name"] == "fake"]
        detail = httpx.get(f"{base}/api/studies/{ours['study_id']}", timeout=10).json()
        assert detail["objective_names"] == ["int8.accuracy", "default.ram_bytes"]
        served = {t["number"]: t["constraints"] for t in detail["trials"]}
        for t in study.get_trials():
            assert served[t.number] == pytest.approx([t.constraints[c] for c in CONSTRAINTS])  # in the file's order
        assert httpx.get(f"{base}/dashboard/", timeout=10).status_code == 200  # the page itself
    finally:
        server.terminate()
        server.wait(timeout=30)


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
