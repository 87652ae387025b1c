"""Every metric name a study uses is checked against its target before anything is created: devices
(``latencyDevices[].mcu``), the ``default`` alias, model types, class names and DSP costs; the top-level
``device`` too. A refused run exits 2, starts no job and writes nothing, on the fake Studio (over HTTP) and on
the local studio (whose server is not even started). The names the jobs report are the names it accepts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from optuna.trial import TrialState
from pydantic import SecretStr

from sweep.cli import main
from sweep.local.embedded import EmbeddedStudio
from sweep.session.resolver import TargetFacts
from sweep.studio.client import StudioClient, make_http_client
from sweep.studio.metric_names import parse
from sweep.studio.metrics import flatten_metadata
from sweep.studio.models import SetKerasParameterRequest

from fake_studio import FakeStudio, JobScript
from local_fixtures import local_studio  # noqa: F401
from runner_support import load, write_study
from study_cases import edit

KEY = "ei_secret_resolver_key_0123456789"
FAKE = "Edge Impulse Studio project 42"
FAKE_DEVICES = "its devices: cortex-m4f-80mhz, cortex-m7-216mhz, or default (the one it marks as default)"


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def _refused(root: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the CLI; assert exit 2, one error line, and not a byte written under ``root``; return the message."""
    before = _snapshot(root)
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("sweep: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert _snapshot(root) == before, "a refused run wrote something"
    return err[len("sweep: error: "):].rstrip("\n")


@pytest.fixture
def studio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeStudio:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EI_API_KEY", KEY)
    monkeypatch.setenv("SWEEP_POLL_INITIAL_S", "0.05")
    monkeypatch.setenv("SWEEP_POLL_MAX_S", "0.2")
    with FakeStudio(api_key=KEY, default_script=JobScript(duration_s=0.05)) as fake:
        fake.features_duration_s = 0.05
        yield fake


@pytest.mark.parametrize(("objective", "constraint", "top", "field", "value", "reason"), [
    pytest.param("cortex-m4-80mhz.latency_ms", "", "", "objectives[1].metric", "cortex-m4-80mhz.latency_ms",
                 f"no device 'cortex-m4-80mhz' in {FAKE} (did you mean 'cortex-m4f-80mhz'?); {FAKE_DEVICES}",
                 id="objective-device"),
    pytest.param("", "esp32-240mhz.ram_bytes <= 65536", "", "constraints[0]", "esp32-240mhz.ram_bytes <= 65536",
                 f"no device 'esp32-240mhz' in {FAKE}; {FAKE_DEVICES}", id="constraint-device"),
    pytest.param("", "", 'device = "cortex-m7"', "device", "cortex-m7",
                 f"no device 'cortex-m7' in {FAKE} (did you mean 'cortex-m7-216mhz'?); {FAKE_DEVICES}",
                 id="top-level-device"),
    pytest.param("int8.f1.yess", "", "", "objectives[1].metric", "int8.f1.yess",
                 f"no class 'yess' in {FAKE} (did you mean 'yes'?); its classes: no, yes, noise (or the averages "
                 "macro_avg, weighted_avg)", id="class"),
    pytest.param("akida.accuracy", "", "", "objectives[1].metric", "akida.accuracy",
                 f"the learn block of {FAKE} trains no akida model; its model types: float32, int8",
                 id="model-type"),
    pytest.param("", "default.total_latency_ms <= 20", "", "constraints[0]", "default.total_latency_ms <= 20",
                 "DSP costs (dsp.*, total_*) are measured only in a study that tunes the impulse ([space.dsp.<block>] "
                 "or [space.window]); this one tunes the network alone: name its cost (default.latency_ms, "
                 ".ram_bytes, .rom_bytes)", id="dsp-cost-without-dsp"),
])
@pytest.mark.parametrize("slots", [1, None], ids=["slots", "learn-blocks"])
def test_a_name_the_studio_project_cannot_report_is_refused_before_any_job(
        studio: FakeStudio, tmp_path: Path, capsys: pytest.CaptureFixture[str], objective: str, constraint: str,
        top: str, field: str, value: str, reason: str, slots: int | None) -> None:
    objectives = (("int8.accuracy", "maximize"),) + (((objective, "minimize"),) if objective else ())
    path = write_study(tmp_path, studio.base_url, trials=4, objectives=objectives, slots=slots, baseline=True,
                       constraints=(constraint,) if constraint else (), extra_top=top)
    message = _refused(tmp_path, capsys, "run", str(path))
    assert message == f"{path}: {field}: {reason} (got {value!r})"
    assert [(m, p) for m, p, _ in studio.requests if m != "GET"] == []  # no clone, no job, nothing set
    assert not studio.jobs


def test_names_the_project_reports_run(studio: FakeStudio, tmp_path: Path) -> None:
    """Every kind of name, each one the project has: the run trains and records them (no false refusal)."""
    objectives = (("int8.f1.yes", "maximize"), ("default.latency_ms", "minimize"))
    path = write_study(tmp_path, studio.base_url, trials=2, objectives=objectives, slots=1,
                       constraints=("float32.cortex-m7-216mhz.ram_bytes <= 1e9", "int8.f1.macro_avg >= 0"),
                       extra_top='device = "cortex-m7-216mhz"')
    assert main(["run", str(path), "--no-report"]) == 0
    done = load(tmp_path).get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 2 and all("float32.cortex-m7-216mhz.ram_bytes" in t.user_attrs["metrics"] for t in done)


def test_the_names_a_job_reports_are_the_names_the_resolver_accepts(studio: FakeStudio) -> None:
    """Flattening and the resolver read one grammar: every key of a real answer resolves against the facts of
    the same project, and a key with another device or class would not."""
    with make_http_client(studio.base_url, SecretStr(KEY), timeout=10) as http:
        client = StudioClient(http, studio.project_id)
        info = client.project_info()
        job = client.start_training(7, SetKerasParameterRequest(training_cycles=2))
        while not client.job_status(job).finished:
            time.sleep(0.02)
        flat = flatten_metadata(client.metadata(7))
    facts = TargetFacts.of_project(info, FAKE, ["keras"])
    assert {"int8.cortex-m7-216mhz.latency_ms", "cortex-m4f-80mhz.rom_bytes", "int8.f1.noise"} <= set(flat)
    for key in flat:
        name = parse(key)
        assert name is not None and facts.refusal(name, tunes_impulse=False) is None, key
    for key in ("int8.raspberry-pi-4.latency_ms", "int8.f1.maybe"):
        name = parse(key)
        assert name is not None and facts.refusal(name, tunes_impulse=False) is not None, key


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the default data dir (.sweep/studio) is relative to it
    return tmp_path


@pytest.mark.parametrize(("pairs", "field", "value", "reason"), [
    pytest.param((('"cortex-m4f-80mhz.ram_bytes <= 65536"', '"cortex-m4-80mhz.ram_bytes <= 65536"'),),
                 "constraints[0]", "cortex-m4-80mhz.ram_bytes <= 65536",
                 "no device 'cortex-m4-80mhz' in local studio project 'digits' (did you mean 'cortex-m4f-80mhz'?); "
                 "its devices: cortex-m0plus-48mhz, cortex-m4f-80mhz, cortex-m7-216mhz, esp32-240mhz, "
                 "raspberry-pi-4, or default (the one it marks as default)", id="constraint-device"),
    pytest.param((("trials = 20", 'trials = 1\ndevice = "esp32"'),), "device", "esp32",
                 "no device 'esp32' in local studio project 'digits' (did you mean 'esp32-240mhz'?); its devices: "
                 "cortex-m0plus-48mhz, cortex-m4f-80mhz, cortex-m7-216mhz, esp32-240mhz, raspberry-pi-4, or default "
                 "(the one it marks as default)", id="top-level-device"),
    pytest.param((('metric = "int8.accuracy"', 'metric = "int8.recall.10"'),), "objectives[0].metric",
                 "int8.recall.10", "no class '10' in local studio project 'digits' (did you mean '1'?); its classes: "
                 "0, 1, 2, 3, 4, 5, 6, 7, 8, 9 (or the averages macro_avg, weighted_avg)", id="class"),
])
def test_a_local_name_the_project_cannot_report_is_refused_before_its_server_starts(
        workspace: Path, capsys: pytest.CaptureFixture[str], pairs: tuple[tuple[str, str], ...], field: str,
        value: str, reason: str) -> None:
    path = workspace / "study.toml"
    path.write_text(edit(("trials = 20", "trials = 1"), *pairs) if pairs[0][0] != "trials = 20" else edit(*pairs))
    message = _refused(workspace, capsys, "run", str(path))
    assert message == f"{path}: {field}: {reason} (got {value!r})"
    assert not (workspace / ".sweep").exists()  # no data dir, no journal: its server never started


def test_the_local_studio_serves_the_facts_its_project_on_disk_gives(local_studio: EmbeddedStudio) -> None:
    """The local check reads the project on disk; the server answers the project route with the same devices,
    classes and learn block types (so a check before it starts is the check it would answer)."""
    from sweep.local.datasets import peek_project

    where = "local studio project 'keywords'"
    project = peek_project(local_studio.data_dir, "keywords")
    with make_http_client(local_studio.base_url, local_studio.api_key, timeout=30) as http:
        client = StudioClient(http, project.id)
        served = TargetFacts.of_project(client.project_info(), where, [b.type for b in client.impulse().learn_blocks])
    assert served == TargetFacts.of_local(project, where)
    assert served.classes == tuple(project.labels) and "cortex-m4f-80mhz" in served.devices
