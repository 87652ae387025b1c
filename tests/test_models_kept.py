"""Models kept: each complete trial's float32/int8 .tflite files, downloaded before its slot's next job, stored as its
Optuna artifacts beside the study, written out by `sweep best --model`; a failed download is recorded and warned once.

Over real HTTP against the fake Studio, whose files name the job that trained them: a kept file is provably its own
trial's when the job id in its bytes is the trial's ``job_id`` attr.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import optuna
import pytest
from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta
from optuna.trial import FrozenTrial, TrialState

from sweep.session.artifacts import MODEL_FILES, artifact_place, kept_models
from sweep.session.storage import open_storage
from sweep.settings import Settings
from sweep.study.load import load_study

from fake_studio import FakeStudio, JobScript, model_bytes
from runner_support import journal, load, run_sweep, sweep_cmd, sweep_env, write_study

KEY = "ei_secret_models_key_0123456789"
PG_URL = os.environ.get("SWEEP_TEST_PG_URL", "postgresql+psycopg://sweep_test:sweep_test@127.0.0.1:5432/sweep_test")
WHOSE = re.compile(rb"fake (float32|int8) model of job (\d+) on learn block (\d+)")


@pytest.fixture
def studio() -> Iterator[FakeStudio]:
    with FakeStudio(api_key=KEY, default_script=JobScript(duration_s=0.3)) as fake:
        yield fake


def _store(tmp_path: Path, name: str = "fake") -> Path:
    return tmp_path / ".sweep" / f"{name}.artifacts"


def _files(trial: FrozenTrial, store: Path) -> dict[str, bytes]:
    """The trial's kept files by kind, read from the artifact store (each checked against its artifact meta)."""
    kept = kept_models(trial)
    assert kept is not None, trial.user_attrs
    out = {}
    for kind, item in kept.files().items():
        with FileSystemArtifactStore(store).open_reader(item.artifact_id) as reader:
            out[kind] = reader.read()
        assert len(out[kind]) == item.size
    return out


def _owner(data: bytes) -> tuple[str, int, int]:
    hit = WHOSE.search(data)
    assert hit is not None, data
    return hit.group(1).decode(), int(hit.group(2)), int(hit.group(3))


def _assert_own(trial: FrozenTrial, store: Path, storage: optuna.storages.BaseStorage) -> None:
    """The trial's two artifacts are the files of its own job, on its own slot's learn block."""
    files = _files(trial, store)
    assert set(files) == {"float32", "int8"}
    for kind, data in files.items():
        assert data == model_bytes(trial.user_attrs["job_id"], trial.user_attrs["worker"]["learn_id"], kind)
    metas = get_all_artifact_meta(trial, storage=storage)
    kept = kept_models(trial)
    assert kept is not None and kept.job_id == trial.user_attrs["job_id"] and kept.error is None
    assert sorted(m.artifact_id for m in metas) == sorted(f.artifact_id for f in kept.files().values())
    assert {m.filename for m in metas} == {f"fake-trial{trial.number}-float32.tflite",
                                          f"fake-trial{trial.number}-int8.tflite"}


def test_two_slots_each_trial_keeps_its_own_slots_models_and_best_writes_them(studio: FakeStudio,
                                                                              tmp_path: Path) -> None:
    studio.download_ids = {"float32": "f32-v2", "int8": "q8-v2"}  # not the usual ids: read from the list
    path = write_study(tmp_path, studio.base_url, trials=4, slots=2)
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"kept in {_store(tmp_path)} (beside the storage file)" in proc.stderr
    study, storage = load(tmp_path), open_storage(journal(tmp_path))
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert len({t.user_attrs["worker"]["learn_id"] for t in trials}) == 2  # both slots trained
    for t in trials:
        _assert_own(t, _store(tmp_path), storage)
        assert {f.download_id for f in kept_models(t).files().values()} == {"f32-v2", "q8-v2"}  # type: ignore[union-attr]
    _assert_downloaded_before_the_next_job(studio, trials)

    best = study.best_trial
    out = tmp_path / "best-models"
    written = run_sweep("best", str(path), "--model", str(out), env=sweep_env(KEY), cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert f"trial {best.number}: wrote" in written.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"fake-trial{best.number}-float32.tflite",
                                                      f"fake-trial{best.number}-int8.tflite"]
    for file in out.iterdir():
        assert _owner(file.read_bytes())[1] == best.user_attrs["job_id"]


def _assert_downloaded_before_the_next_job(studio: FakeStudio, trials: list[FrozenTrial]) -> None:
    """On each learn block, a job's two model files are fetched before the block's next train job is posted."""
    for lid in {t.user_attrs["worker"]["learn_id"] for t in trials}:
        fetched = [i for i, (_, p, _) in enumerate(studio.requests) if f"/learn-data/{lid}/model/" in p]
        posts = [i for i, (m, p, _) in enumerate(studio.requests)
                 if m == "POST" and p.endswith(f"/jobs/train/keras/{lid}")]
        assert posts and len(fetched) == 2 * len(posts)
        for k, post in enumerate(posts[1:]):
            assert max(fetched[2 * k:2 * k + 2]) < post


def test_a_failed_download_is_recorded_warned_once_and_fails_nothing(studio: FakeStudio, tmp_path: Path) -> None:
    studio.model_errors = [404, 404, 404]  # trial 0 keeps nothing, trial 1 only its int8 model
    path = write_study(tmp_path, studio.base_url, trials=3)
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trials = load(tmp_path).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    first, second, third = (kept_models(t) for t in trials)
    assert first is not None and first.files() == {} and "float32: GET" in (first.error or "")
    assert "int8: GET" in (first.error or "") and "HTTP 404" in (first.error or "")
    assert second is not None and set(second.files()) == {"int8"} and (second.error or "").startswith("float32:")
    assert third is not None and third.error is None and set(third.files()) == {"float32", "int8"}
    assert proc.stderr.count("models were not kept") == 1  # warned once, for trial 0
    assert "trial 0: its .tflite models were not kept: float32: GET" in proc.stderr
    status = run_sweep("status", str(path), env=sweep_env(KEY), cwd=tmp_path)
    assert status.stdout.count("models not kept: ") == 2
    one = run_sweep("best", str(path), "--trial", "0", "--model", str(tmp_path / "m"), env=sweep_env(KEY),
                    cwd=tmp_path)
    assert one.returncode == 2 and "trial 0 kept no model files: float32: GET" in one.stderr


TWO_CONFIGS = """
[space]
batch_size = { choices = [16, 32] }
learning_rate = 0.01
training_cycles = 5
"""


def test_a_reused_trial_names_its_twins_files(studio: FakeStudio, tmp_path: Path) -> None:
    path = write_study(tmp_path, studio.base_url, trials=4, space=TWO_CONFIGS, sampler="random")
    assert run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path).returncode == 0
    trials = load(tmp_path).get_trials()
    reused = [t for t in trials if "duplicate_of" in t.user_attrs]
    assert reused  # 4 trials of 2 configurations
    for t in reused:
        twin = trials[t.user_attrs["duplicate_of"]]
        assert t.user_attrs[MODEL_FILES] == twin.user_attrs[MODEL_FILES] and "job_id" not in t.user_attrs
    out = tmp_path / "reused"
    proc = run_sweep("best", str(path), "--trial", str(reused[0].number), "--model", str(out), env=sweep_env(KEY),
                     cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    twin = trials[reused[0].user_attrs["duplicate_of"]]
    assert {_owner(p.read_bytes())[1] for p in out.iterdir()} == {twin.user_attrs["job_id"]}
    assert sorted(p.name for p in out.iterdir()) == [f"fake-trial{twin.number}-float32.tflite",
                                                      f"fake-trial{twin.number}-int8.tflite"]


def test_multi_objective_best_writes_each_pareto_trials_models(studio: FakeStudio, tmp_path: Path) -> None:
    path = write_study(tmp_path, studio.base_url, trials=5,
                       objectives=(("int8.accuracy", "maximize"), ("cortex-m4f-80mhz.latency_ms", "minimize")))
    assert run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path).returncode == 0
    pareto = load(tmp_path).best_trials
    out = tmp_path / "pareto"
    proc = run_sweep("best", str(path), "--model", str(out), env=sweep_env(KEY), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in out.iterdir()} == {f"fake-trial{t.number}-{k}.tflite" for t in pareto
                                              for k in ("float32", "int8")}
    for t in pareto:
        assert f"trial {t.number}: wrote" in proc.stderr
        assert _owner((out / f"fake-trial{t.number}-int8.tflite").read_bytes())[1] == t.user_attrs["job_id"]
    chosen = run_sweep("best", str(path), "--trial", "1", "--model", str(tmp_path / "one"), env=sweep_env(KEY),
                       cwd=tmp_path)
    assert chosen.returncode == 0, chosen.stderr
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["fake-trial1-float32.tflite",
                                                                   "fake-trial1-int8.tflite"]


def _wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _running_second(folder: Path) -> bool:
    try:
        trials = load(folder).get_trials()
    except (KeyError, OSError, ValueError):
        return False
    return (len(trials) >= 2 and trials[0].state == TrialState.COMPLETE and trials[1].state == TrialState.RUNNING
            and "job_id" in trials[1].user_attrs)


def test_the_kept_models_survive_a_kill_and_resume(studio: FakeStudio, tmp_path: Path) -> None:
    studio.script(JobScript(duration_s=0.1), JobScript(duration_s=3.0))
    path = write_study(tmp_path, studio.base_url, trials=3)
    proc = subprocess.Popen(sweep_cmd("run", str(path), "--no-report"), env=sweep_env(KEY), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: _running_second(tmp_path))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    before = kept_models(load(tmp_path).get_trials()[0])
    assert before is not None and set(before.files()) == {"float32", "int8"}

    again = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "re-attached to job" in again.stderr
    study, storage = load(tmp_path), open_storage(journal(tmp_path))
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert kept_models(trials[0]) == before  # the first run's files, untouched
    for t in trials:  # the re-attached trial 1 kept its own job's models too
        _assert_own(t, _store(tmp_path), storage)


def test_the_dashboard_serves_each_trials_own_model_files(studio: FakeStudio, tmp_path: Path) -> None:
    pytest.importorskip("optuna_dashboard")
    path = write_study(tmp_path, studio.base_url, trials=2)
    assert run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path).returncode == 0
    trials = load(tmp_path).get_trials()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = subprocess.Popen(sweep_cmd("dashboard", str(path), "--port", str(port)), cwd=tmp_path,
                              env=sweep_env("unused"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(lambda: _answers(f"{base}/api/studies") or server.poll() is not None, timeout=60)
        (ours,) = [s for s in httpx.get(f"{base}/api/studies", timeout=5).json()["study_summaries"]
                   if s["study_name"] == "fake"]
        detail = httpx.get(f"{base}/api/studies/{ours['study_id']}", timeout=10).json()
        for served in detail["trials"]:
            trial = trials[served["number"]]
            assert {a["filename"] for a in served["artifacts"]} == {f"fake-trial{trial.number}-float32.tflite",
                                                                  f"fake-trial{trial.number}-int8.tflite"}
            for artifact in served["artifacts"]:
                got = httpx.get(f"{base}/artifacts/{ours['study_id']}/{served['trial_id']}/{artifact['artifact_id']}",
                                timeout=10)
                assert got.status_code == 200 and _owner(got.content)[1] == trial.user_attrs["job_id"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_keep_models_off_downloads_nothing(studio: FakeStudio, tmp_path: Path) -> None:
    path = write_study(tmp_path, studio.base_url, trials=2)
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY, SWEEP_KEEP_MODELS="0"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not any("/learn-data/" in p or "/downloads" in p for _, p, _ in studio.requests)
    assert all(MODEL_FILES not in t.user_attrs for t in load(tmp_path).get_trials())
    assert not _store(tmp_path).exists()


def test_where_the_store_lives_for_each_storage_kind(tmp_path: Path) -> None:
    spec = load_study(write_study(tmp_path, "http://127.0.0.1:1/v1", trials=1))
    settings = Settings()
    journal_file = tmp_path / "x" / "s.journal"
    assert artifact_place(spec, f"journal:{journal_file}", settings).path == tmp_path / "x" / "s.artifacts"
    assert artifact_place(spec, f"sqlite:///{tmp_path / 'db.sqlite3'}", settings).path == tmp_path / "db.artifacts"
    server = artifact_place(spec, "postgresql+psycopg://u:secret@db/sweep", settings)
    assert server.path == tmp_path / ".sweep" / "fake.artifacts" and server.source == "beside the study file"
    assert "SWEEP_ARTIFACTS_DIR" in server.describe() and "secret" not in server.describe()
    chosen = Settings(artifacts_dir=tmp_path / "shared")
    for url in (f"journal:{tmp_path / 's.journal'}", "postgresql+psycopg://u@db/sweep"):
        assert artifact_place(spec, url, chosen).path == tmp_path / "shared"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database on the test server (dropped afterwards); see scripts/postgres.sh."""
    from sqlalchemy.engine import make_url

    psycopg = pytest.importorskip("psycopg")
    admin = make_url(PG_URL)
    name = f"sweep_m_{uuid.uuid4().hex[:12]}"
    try:
        conn = psycopg.connect(admin.set(drivername="postgresql").render_as_string(hide_password=False),
                               autocommit=True, connect_timeout=5)
    except psycopg.OperationalError:
        pytest.fail("PostgreSQL is not reachable: run `sudo bash scripts/postgres.sh` or set SWEEP_TEST_PG_URL",
                    pytrace=False)
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield admin.set(database=name).render_as_string(hide_password=False)
        finally:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_postgresql_keeps_models_in_the_named_directory(studio: FakeStudio, tmp_path: Path, pg_url: str) -> None:
    shared = tmp_path / "shared-artifacts"
    path = write_study(tmp_path, studio.base_url, trials=2)
    env = sweep_env(KEY, SWEEP_ARTIFACTS_DIR=str(shared))
    proc = run_sweep("run", str(path), "--no-report", "--storage", pg_url, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"kept in {shared} (SWEEP_ARTIFACTS_DIR)" in proc.stderr
    storage = open_storage(pg_url)
    for t in optuna.load_study(study_name="fake", storage=storage).get_trials():
        _assert_own(t, shared, storage)
    out = tmp_path / "best"
    assert run_sweep("best", str(path), "--storage", pg_url, "--model", str(out), env=env, cwd=tmp_path).returncode == 0
    assert len(list(out.iterdir())) == 2
    elsewhere = run_sweep("best", str(path), "--storage", pg_url, "--model", str(tmp_path / "no"),
                          env=sweep_env(KEY), cwd=tmp_path)  # without the setting: the default, which is empty
    assert elsewhere.returncode == 2 and "is SWEEP_ARTIFACTS_DIR the directory the run kept it in" in elsewhere.stderr
