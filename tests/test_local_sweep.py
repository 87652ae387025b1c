"""`sweep` end to end on the embedded local studio: real Keras training via the CLI, import, best --apply, bad input."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from sweep.local.embedded import EmbeddedStudio
from sweep.session import records
from sweep.session.artifacts import kept_models
from sweep.session.storage import open_storage

CYCLES = 2
DEVICE = "cortex-m4f-80mhz"


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One workspace per module: cwd of every command, with data/ (the local studio) and reports/."""
    return tmp_path_factory.mktemp("local-sweep")


def _env(ws: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EI_", "SWEEP_"))}
    env.update({"SWEEP_DATA_DIR": str(ws / "data"), "SWEEP_REPORTS_DIR": str(ws / "reports"),
                "SWEEP_POLL_INITIAL_S": "0.1", "SWEEP_POLL_MAX_S": "0.5"})
    return env


def _sweep(ws: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sweep.cli", *args], env=_env(ws), cwd=ws,
                          capture_output=True, text=True, timeout=timeout)


def _write(ws: Path, name: str, project: str, space: str, *, trials: int, fixed: str = "trainTestSplit = 0.2",
           max_failures: int = 3, kind: str | None = "local", baseline: bool = False) -> Path:
    """A study file; ``kind=None`` leaves target.kind out (local, as no EI_API_KEY is set)."""
    path = ws / f"{name}.toml"
    kind_line = f'kind = "{kind}"' if kind else "# no kind: the local studio, since EI_API_KEY is not set"
    path.write_text(f"""
name = "{name}"
trials = {trials}
max_consecutive_failures = {max_failures}
device = "{DEVICE}"
baseline = {str(baseline).lower()}

[target]
{kind_line}
project = "{project}"

[sampler]
name = "tpe"
seed = 11

[[objectives]]
metric = "int8.accuracy"
direction = "maximize"

{space}

[fixed]
{fixed}
""")
    return path


def _trials(ws: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    storage = open_storage(f"journal:{ws / '.sweep' / (name + '.journal')}")
    return optuna.load_study(study_name=name, storage=storage).get_trials()


def _port(stderr: str) -> int:
    found = re.search(r"at http://127\.0\.0\.1:(\d+)/v1", stderr)
    assert found, f"no local studio address in the run's output:\n{stderr}"
    return int(found.group(1))


def _server_processes(data_dir: Path) -> list[str]:
    """Live processes of our runs: `sweep.local` servers on this data dir, and anything (the server's spawned
    training workers) that inherited our SWEEP_DATA_DIR; other helpers' processes never match."""
    found = []
    data = str(data_dir.resolve())
    ours = f"SWEEP_DATA_DIR={data_dir}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            env = (proc / "environ").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state == "Z":
            continue  # exited, only waiting to be reaped
        if ("sweep.local" in cmd and data in cmd) or ours in env:
            found.append(cmd)
    return found


def _assert_server_stopped(ws: Path, stderr: str) -> None:
    """Nothing answers our key on the port the run announced, and no server process on our data dir is left."""
    port = _port(stderr)
    key = (ws / "data" / "api_key").read_text().strip()
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}/v1/api/1/jobs", headers={"x-api-key": key}, timeout=3.0)
    except httpx.TransportError:
        pass  # refused: nobody listens there any more
    else:  # the port may have been taken by someone else's server since: it must not be ours
        assert answer.status_code != 200, f"the local studio still answers on port {port}"
    assert _server_processes(ws / "data") == []


def _job_log(ws: Path, job_id: int) -> str:
    return (ws / "data" / "jobs" / str(job_id) / "log").read_text()


def _check_complete(t: optuna.trial.FrozenTrial, ws: Path, class_names: list[str]) -> dict[str, float]:
    """A real trained trial: metrics, device estimates, confusion, per-epoch curves, the job on disk."""
    assert t.state == TrialState.COMPLETE, t.user_attrs.get("failure")
    m = t.user_attrs["metrics"]
    assert 0.0 < m["int8.accuracy"] <= 1.0 and 0.0 < m["float32.accuracy"] <= 1.0
    assert t.values == [m["int8.accuracy"]]
    assert m[f"{DEVICE}.latency_ms"] > 0 and m[f"{DEVICE}.ram_bytes"] > 0 and m[f"{DEVICE}.rom_bytes"] > 0
    assert records.class_names(t) == class_names
    n = len(class_names)
    for mt in ("int8", "float32"):
        matrix = np.asarray(records.confusion(t)[mt], dtype=float)
        assert matrix.shape == (n, n) and matrix.sum() > 0
    for name in class_names:
        assert 0.0 <= m[f"int8.f1.{name}"] <= 1.0
    cycles = t.user_attrs["request"]["trainingCycles"]
    curves = records.curves(t)
    assert len(curves["val_accuracy"]) == cycles and len(curves["loss"]) == cycles
    assert all(0.0 <= v <= 1.0 for v in curves["val_accuracy"])
    job = json.loads((ws / "data" / "jobs" / str(t.user_attrs["job_id"]) / "job.json").read_text())
    assert job["finishedSuccessful"] is True
    assert f"Epoch {cycles}/{cycles}" in _job_log(ws, t.user_attrs["job_id"])
    return m


# ---- 1. a real digits sweep, and 4. best --apply on it ---------------------------------------------------------

DIGITS_SPACE = f"""
[space]
learning_rate = {{ low = 5e-3, high = 3e-2, log = true }}
batch_size = 32
training_cycles = {CYCLES}

[[space.layers]]
type = "dense"
neurons = {{ choices = [8, 16, 24] }}

[[space.layers]]
type = "dropout"
dropout_rate = {{ low = 0.0, high = 0.3 }}
"""


@dataclass
class DigitsRun:
    path: Path
    proc: subprocess.CompletedProcess[str]
    trials: list[optuna.trial.FrozenTrial]


@pytest.fixture(scope="module")
def digits_run(ws: Path) -> DigitsRun:
    path = _write(ws, "digits-e2e", "digits", DIGITS_SPACE, trials=2, fixed="trainTestSplit = 0.2\nprofileInt8 = true",
                  kind=None)
    proc = _sweep(ws, "run", str(path))
    return DigitsRun(path, proc, _trials(ws, "digits-e2e") if proc.returncode == 0 else [])


def test_digits_sweep_trains_for_real_and_writes_the_report(ws: Path, digits_run: DigitsRun) -> None:
    proc = digits_run.proc
    assert proc.returncode == 0, proc.stderr
    assert "EI_API_KEY" not in proc.stderr
    trials = digits_run.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert len({t.user_attrs["job_id"] for t in trials}) == 2
    for t in trials:
        _check_complete(t, ws, [str(i) for i in range(10)])
        request = t.user_attrs["request"]
        assert request["trainingCycles"] == CYCLES and request["mode"] == "visual"
        assert request["learningRate"] == pytest.approx(t.params["learning_rate"])
        assert request["visualLayers"][0] == {"type": "dense", "neurons": t.params["layers.0.neurons"]}
    assert "done: 2 completed, 0 failed" in proc.stderr and "best: trial" in proc.stderr
    assert "on local studio project 'digits'" in proc.stderr  # no kind and no key: the embedded default
    _assert_server_stopped(ws, proc.stderr)
    out = ws / "reports" / "digits-e2e"
    assert (out / "index.html").stat().st_size > 0
    assert "Trained on local studio project 'digits'." in (out / "report.md").read_text()
    csv = pd.read_csv(out / "trials.csv")
    assert sorted(csv["number"]) == [0, 1] and set(csv["state"]) == {"COMPLETE"}
    by_number = {t.number: t.user_attrs["metrics"]["int8.accuracy"] for t in trials}
    for _, row in csv.iterrows():
        assert row["int8.accuracy"] == pytest.approx(by_number[row["number"]])


def _keras_config(data_dir: Path, project_id: int, learn_id: int, body: dict | None = None) -> dict:
    """GET (after an optional POST of ``body``) the learn block's config on a fresh EmbeddedStudio."""
    with EmbeddedStudio(data_dir) as studio, httpx.Client(
            base_url=studio.base_url, timeout=30.0, headers={"x-api-key": studio.api_key.get_secret_value()}) as http:
        route = f"/api/{project_id}/training/keras/{learn_id}"
        if body is not None:
            saved = http.post(route, json=body)
            assert saved.status_code == 200 and saved.json()["success"] is True, saved.text
        answer = http.get(route)
        assert answer.status_code == 200, answer.text
        return answer.json()


def test_best_apply_saves_the_best_request_to_the_learn_block(ws: Path, digits_run: DigitsRun) -> None:
    assert digits_run.proc.returncode == 0, digits_run.proc.stderr
    best = max(digits_run.trials, key=lambda t: t.values[0])
    request = best.user_attrs["request"]
    # Put something else in the block first, so only --apply can bring the best configuration back.
    other = {"learningRate": 0.0777, "mode": "visual", "visualLayers": [{"type": "dense", "neurons": 5}]}
    before = _keras_config(ws / "data", 1, 3, other)
    assert before["learningRate"] == pytest.approx(0.0777) and before["visualLayers"][0]["neurons"] == 5

    proc = _sweep(ws, "best", str(digits_run.path), "--apply", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["request"] == request
    assert f"applied trial {best.number}'s configuration to learn block 3" in proc.stderr
    _assert_server_stopped(ws, proc.stderr)

    after = _keras_config(ws / "data", 1, 3)
    assert after["learningRate"] == pytest.approx(request["learningRate"])
    assert after["trainingCycles"] == request["trainingCycles"] and after["mode"] == "visual"
    assert len(after["visualLayers"]) == len(request["visualLayers"])
    for got, wanted in zip(after["visualLayers"], request["visualLayers"], strict=False):
        assert {k: got.get(k) for k in wanted} == wanted


def test_a_trial_retrained_with_its_seed_gives_its_metrics_again(ws: Path, digits_run: DigitsRun) -> None:
    """The same request and seed on the same project's fixed validation split: the same model and metrics."""
    assert digits_run.proc.returncode == 0, digits_run.proc.stderr
    trial = min(digits_run.trials, key=lambda t: t.user_attrs["request"].get("trainingCycles", 30))
    proc = _sweep(ws, "best", str(digits_run.path), "--trial", str(trial.number), "--apply", "--train", "--json")
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stderr.splitlines() if "trained it there: job" in x)
    # "float32.accuracy 97.22 %, float32.loss 0.0912, ...": accuracy in %, as every line of sweep shows it
    shown = {key: float(value) / (100 if unit else 1) for key, value, unit in
             re.findall(r"([\w.-]+) (-?[\d.]+)( %)?", line.split("; ", 1)[1])}
    metrics = trial.user_attrs["metrics"]
    assert {"float32.accuracy", "int8.accuracy", "float32.loss", "int8.loss"} <= set(shown)
    assert all(v == pytest.approx(metrics[k], abs=5e-4) for k, v in shown.items()), (shown, metrics)
    assert int(line.split("trained it there: job ")[1].split(";")[0]) != trial.user_attrs["job_id"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_each_trial_keeps_its_own_jobs_models_and_best_writes_them(ws: Path, digits_run: DigitsRun) -> None:
    """A kept model is its own trial's: the artifact's sha256 is that of the file its job wrote."""
    assert digits_run.proc.returncode == 0, digits_run.proc.stderr
    store = ws / ".sweep" / "digits-e2e.artifacts"
    for t in digits_run.trials:
        kept = kept_models(t)
        assert kept is not None and kept.error is None and kept.job_id == t.user_attrs["job_id"]
        assert set(kept.files()) == {"float32", "int8"}
        for kind, item in kept.files().items():
            own = ws / "data" / "jobs" / str(t.user_attrs["job_id"]) / f"model_{kind}.tflite"
            assert item.sha256 == _sha256(own) == _sha256(store / item.artifact_id)
    best = max(digits_run.trials, key=lambda t: t.values[0])
    proc = _sweep(ws, "best", str(digits_run.path), "--model", str(ws / "best-models"))
    assert proc.returncode == 0, proc.stderr
    for kind in ("float32", "int8"):
        written = ws / "best-models" / f"digits-e2e-trial{best.number}-{kind}.tflite"
        assert _sha256(written) == _sha256(ws / "data" / f"jobs/{best.user_attrs['job_id']}/model_{kind}.tflite")


# ---- 2. keywords with spectrogram augmentation in the space ----------------------------------------------------

KEYWORDS_SPACE = f"""
[space]
learning_rate = 0.01
batch_size = 32
training_cycles = {CYCLES}

[space.augmentation_policy_spectrogram]
enabled = true
warping = {{ choices = [true, false] }}
freq_masking = {{ choices = ["low", "high"] }}
time_masking = "low"
gaussian_noise = {{ choices = ["none", "low"] }}

[[space.layers]]
type = "reshape"
columns = 16

[[space.layers]]
type = "conv1d"
neurons = {{ choices = [8, 16] }}
kernel_size = 3

[[space.layers]]
type = "flatten"
"""


def test_a_study_refuses_trials_from_another_target(ws: Path, digits_run: DigitsRun) -> None:
    """Same study name and storage, other project: refused before anything is written."""
    assert digits_run.proc.returncode == 0, digits_run.proc.stderr
    path = ws / "other-target.toml"  # next to the first file: the same default journal
    path.write_text(digits_run.path.read_text().replace('project = "digits"', 'project = "keywords"'))
    before = _trials(ws, "digits-e2e")
    proc = _sweep(ws, "run", str(path), "--no-report")
    assert proc.returncode == 2, proc.stderr
    assert (f"{path}: target: study 'digits-e2e' already ran on local studio project 'digits'; it cannot take "
            "trials from another target: give this run another study name or storage "
            "(got \"local studio project 'keywords'\")") in proc.stderr
    assert "Traceback" not in proc.stderr
    assert [(t.number, t.state) for t in _trials(ws, "digits-e2e")] == [(t.number, t.state) for t in before]
    storage = open_storage(f"journal:{ws / '.sweep' / 'digits-e2e.journal'}")
    study = optuna.load_study(study_name="digits-e2e", storage=storage)
    assert study.user_attrs["target"] == "local studio project 'digits'"
    assert _server_processes(ws / "data") == []


def test_keywords_sweep_with_spectrogram_augmentation(ws: Path) -> None:
    path = _write(ws, "keywords-e2e", "keywords", KEYWORDS_SPACE, trials=1)
    proc = _sweep(ws, "run", str(path), "--no-report")
    assert proc.returncode == 0, proc.stderr
    (t,) = _trials(ws, "keywords-e2e")
    _check_complete(t, ws, ["noise", "rise", "fall", "tone"])
    policy = t.user_attrs["request"]["augmentationPolicySpectrogram"]
    assert policy["enabled"] is True and policy["timeMasking"] == "low"
    assert policy["warping"] == t.params["spectrogram.warping"]
    assert policy["freqMasking"] == t.params["spectrogram.freq_masking"]
    assert policy["gaussianNoise"] == t.params["spectrogram.gaussian_noise"]
    # the trainer really used the policy the trial sent
    line = next(ln for ln in _job_log(ws, t.user_attrs["job_id"]).splitlines() if "Spectrogram augmentation" in ln)
    assert f"'freqMasking': '{policy['freqMasking']}'" in line and f"'warping': {policy['warping']}" in line
    _assert_server_stopped(ws, proc.stderr)
    assert not (ws / "reports" / "keywords-e2e").exists()  # --no-report


# ---- 3. sweep import, then a sweep on the imported project -----------------------------------------------------


def test_import_exported_features_then_sweep_on_them(ws: Path) -> None:
    rng = np.random.default_rng(5)
    per_class, features = 60, 12
    x = rng.normal(0.0, 0.3, (3 * per_class, features)).astype(np.float32)
    y = np.repeat([1, 2, 3], per_class)  # Edge Impulse exports 1-based class numbers
    for c in range(3):
        x[y == c + 1, 4 * c:4 * c + 4] += 2.0
    order = rng.permutation(len(y))
    export = ws / "export"
    export.mkdir()
    np.save(export / "X_train_features.npy", x[order])
    np.save(export / "y_train.npy", y[order].astype(np.float32))

    proc = _sweep(ws, "import", "synth", "--x", str(export / "X_train_features.npy"),
                  "--y", str(export / "y_train.npy"), "--labels", "alpha,beta,gamma")
    assert proc.returncode == 0, proc.stderr
    found = re.search(r"imported 'synth' as local project (\d+) \(learn blocks \[(\d+)\]\)", proc.stdout)
    assert found, proc.stdout
    project_id, learn_id = int(found.group(1)), int(found.group(2))
    assert project_id not in (1, 2)
    again = _sweep(ws, "import", "synth", "--x", str(export / "X_train_features.npy"),
                   "--y", str(export / "y_train.npy"))
    assert again.returncode != 0 and "'synth'" in again.stderr and "exists" in again.stderr

    space = """
[space]
learning_rate = { low = 1e-2, high = 3e-2, log = true }
batch_size = 16
training_cycles = 3

[[space.layers]]
type = "dense"
neurons = { choices = [16, 24] }
"""
    path = _write(ws, "synth-e2e", "synth", space, trials=1)
    run = _sweep(ws, "run", str(path), "--no-report")
    assert run.returncode == 0, run.stderr
    assert f"local studio project 'synth' (id {project_id})" in run.stderr
    cloned = re.search(r"slot 1: cloned impulse \d+ as impulse \d+ \('sweep:synth-e2e:1'\), learn block (\d+)",
                       run.stderr)
    assert cloned is not None and int(cloned.group(1)) != learn_id  # the imported project's own block stays as it was
    assert f"learn blocks [{cloned.group(1)}]" in run.stderr
    (t,) = _trials(ws, "synth-e2e")
    m = _check_complete(t, ws, ["alpha", "beta", "gamma"])
    assert m["int8.accuracy"] > 0.6  # well separated classes: far above chance (1/3) even after 3 epochs
    matrix = np.asarray(records.confusion(t)["int8"])
    assert all(row.sum() > 0 for row in matrix)  # every class is in the validation split
    _assert_server_stopped(ws, run.stderr)


# ---- 5. bad input with the local target --------------------------------------------------------------------------


def test_unknown_local_project_exits_2_naming_the_field_and_value(ws: Path) -> None:
    path = _write(ws, "nosuch-e2e", "no-such-project", DIGITS_SPACE, trials=1)
    proc = _sweep(ws, "run", str(path), "--no-report")
    assert proc.returncode == 2, proc.stderr
    assert f"{path}: target.project" in proc.stderr and "'no-such-project'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _server_processes(ws / "data") == []


def test_unknown_local_project_writes_nothing(ws: Path) -> None:
    path = _write(ws, "nosuch-quiet", "no-such-project", DIGITS_SPACE, trials=1)
    proc = _sweep(ws, "run", str(path))
    assert proc.returncode == 2, proc.stderr
    assert not (ws / ".sweep" / "nosuch-quiet.journal").exists()
    assert not (ws / "reports" / "nosuch-quiet").exists()


def test_requests_the_local_studio_refuses_fail_trials_and_stop_the_sweep(ws: Path) -> None:
    space = """
[space]
learning_rate = { low = 1e-3, high = 1e-2, log = true }
training_cycles = 2
"""
    path = _write(ws, "expert-e2e", "digits", space, trials=5, max_failures=2,
                  fixed='mode = "expert"\nscript = "def build_model(input_length, classes):\\n    raise SystemExit"')
    proc = _sweep(ws, "run", str(path), "--no-report")
    assert proc.returncode == 1, proc.stderr
    reason = "expert mode runs user code"
    assert "2 consecutive trials failed (max_consecutive_failures = 2)" in proc.stderr
    assert reason in proc.stderr.splitlines()[-1]
    trials = _trials(ws, "expert-e2e")
    assert [t.state for t in trials] == [TrialState.FAIL] * 2
    for t in trials:
        assert reason in t.user_attrs["failure"] and "job_id" in t.user_attrs
        assert t.user_attrs["request"]["mode"] == "expert"
        job = json.loads((ws / "data" / "jobs" / str(t.user_attrs["job_id"]) / "job.json").read_text())
        assert job["finishedSuccessful"] is False
    _assert_server_stopped(ws, proc.stderr)
    status = _sweep(ws, "status", str(path))
    assert status.returncode == 0 and status.stdout.count("FAIL") >= 2 and "…" in status.stdout  # notes cut
    assert "--wide" in status.stdout and max(len(line) for line in status.stdout.splitlines()) <= 100
    wide = _sweep(ws, "status", str(path), "--wide")
    assert wide.returncode == 0 and reason in wide.stdout  # the whole reason


def _shipped_studies(root: Path = Path(__file__).parent.parent) -> list[Path]:
    """The study files the repository ships (tracked by git): a user's draft in studies/ is not one of them."""
    tracked = subprocess.run(["git", "ls-files", "--", "studies/*.toml"], cwd=root, capture_output=True, text=True)
    if tracked.returncode != 0:  # not a git checkout (an unpacked sdist): what is there is what shipped
        return sorted((root / "studies").glob("*.toml"))
    return sorted(root / line for line in tracked.stdout.splitlines() if line.strip())


SHIPPED = _shipped_studies()


def test_a_draft_study_in_studies_is_not_a_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "kept.toml").write_text("name = 'kept'\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "studies/kept.toml"], cwd=tmp_path, check=True)
    (tmp_path / "studies" / "draft.toml").write_text("not = valid = toml\n")
    assert _shipped_studies(tmp_path) == [tmp_path / "studies" / "kept.toml"]


def test_the_shipped_studies_load() -> None:
    from sweep.study.load import load_study

    assert {p.stem for p in SHIPPED} >= {"digits", "keywords"}
    for path in SHIPPED:
        assert load_study(path).target.kind == "local"  # they run as they are, with no account


def test_the_shipped_keywords_study_runs_as_it_is(ws: Path) -> None:
    """The README's demo runs studies/digits.toml; this runs the spectrogram study (one trial)."""
    studies = ws / "shipped"
    studies.mkdir()
    path = studies / "keywords.toml"
    path.write_text((Path(__file__).parent.parent / "studies" / "keywords.toml").read_text())
    proc = _sweep(ws, "run", str(path), "--trials", "1", "--no-report")
    assert proc.returncode == 0, proc.stderr
    trials = optuna.load_study(study_name="keywords",
                               storage=open_storage(f"journal:{studies / '.sweep' / 'keywords.journal'}")).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE]
    assert trials[0].user_attrs["request"]["augmentationPolicySpectrogram"]["enabled"] == trials[0].params[
        "spectrogram.enabled"]
    # the study's baseline went first: the source learn block's own configuration, trained on the slot
    storage = open_storage(f"journal:{studies / '.sweep' / 'keywords.journal'}")
    (base,) = optuna.load_study(study_name="keywords:baseline", storage=storage).get_trials()
    assert base.state == TrialState.COMPLETE and base.params == {} and base.user_attrs["of"] is None
    assert base.datetime_complete <= trials[0].datetime_start
    assert "int8.accuracy" in base.user_attrs["metrics"] and base.user_attrs["job_id"] != trials[0].user_attrs["job_id"]
    assert "baseline: the source learn block" in proc.stderr


def test_the_shipped_whole_impulse_study_runs_as_it_is(ws: Path) -> None:
    """studies/keywords-impulse.toml on the shipped raw audio project: the baseline on the source's MFE settings,
    then trials that set the clone's MFE block, generate its features and train on them (two trials here)."""
    studies = ws / "impulse"
    studies.mkdir()
    path = studies / "keywords-impulse.toml"
    path.write_text((Path(__file__).parent.parent / "studies" / "keywords-impulse.toml").read_text()
                    .replace("training_cycles = 30", "training_cycles = 3"))
    proc = _sweep(ws, "run", str(path), "--trials", "2", "--no-report")
    assert proc.returncode == 0, proc.stderr
    storage = open_storage(f"journal:{studies / '.sweep' / 'keywords-impulse.journal'}")
    trials = optuna.load_study(study_name="keywords-impulse", storage=storage).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    (base,) = optuna.load_study(study_name="keywords-impulse:baseline", storage=storage).get_trials()
    assert base.user_attrs["impulse"]["dsp"]["MFE"]["num_filters"] == "40"  # the source's own settings
    for t in trials:
        filters = t.params["dsp.MFE.num_filters"]
        assert t.user_attrs["request"]["visualLayers"][0] == {"type": "reshape", "columns": filters}
        metrics = t.user_attrs["metrics"]
        assert metrics[f"{DEVICE}.total_latency_ms"] == pytest.approx(
            metrics[f"{DEVICE}.dsp.latency_ms"] + metrics[f"{DEVICE}.latency_ms"])
        assert t.values[1] == metrics[f"{DEVICE}.total_latency_ms"]
    # the user's own impulse kept its MFE settings; the clone took the trials'
    stored = json.loads((ws / "data" / "dsp" / "3.json").read_text())
    assert "2" not in stored  # DSP block 2 is the source's
    assert "impulse 2 set (" in proc.stderr and "generating its features" in proc.stderr
