"""ModelKeeper at the backend seam (FakeBackend): the slot's latest files become the trial's artifacts, failures are
recorded and warned about once, the project's impulses are read once per run."""

from __future__ import annotations

import io
from pathlib import Path

import optuna
import pytest
from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta

from sweep.errors import ApiError, TransientError
from sweep.run.keep import ModelKeeper
from sweep.run.progress import Progress
from sweep.run.work import TrialRun
from sweep.session.artifacts import KeptModels, export_models, kept_models
from sweep.studio.downloads import Download
from sweep.studio.models import SetKerasParameterRequest
from sweep.study.request import TrainRequest

from fake_backend import FakeBackend


def _setup(tmp_path: Path) -> tuple[optuna.Study, FakeBackend, ModelKeeper, io.StringIO]:
    backend = FakeBackend(learn_ids=(7,))
    clone = backend.clone_impulse(1, "sweep:s:1")
    assert backend.impulse(clone).learn_blocks[0].id != 7
    study = optuna.create_study(study_name="s")
    out = io.StringIO()
    return study, backend, ModelKeeper(study, backend, tmp_path / "store", Progress(out)), out


def _trained(study: optuna.Study, backend: FakeBackend, learn_id: int) -> TrialRun:
    trial = study.ask()
    job_id = backend.start_training(learn_id, SetKerasParameterRequest())
    backend.finish(job_id)
    trial.set_user_attr("job_id", job_id)
    return TrialRun(trial=trial, number=trial.number, learn_id=learn_id,
                    request=TrainRequest.of(SetKerasParameterRequest()), job_id=job_id)


def test_a_slots_latest_files_become_its_trials_artifacts(tmp_path: Path) -> None:
    study, backend, keeper, _ = _setup(tmp_path)
    clone_block = backend.extra_impulses[0].learn_blocks[0].id
    runs = []
    for lid in (7, clone_block, 7):  # each kept before its block's next job, as a slot's thread does
        work = _trained(study, backend, lid)
        keeper.keep(work)
        study.tell(work.trial, 1.0)
        runs.append(work)
    assert backend.calls.count("impulses") == 1  # the learn block -> impulse map is read once
    assert [c for c in backend.calls if c.startswith("downloads")] == [
        "downloads 1", f"downloads {backend.extra_impulses[0].id}", "downloads 1"]
    store = FileSystemArtifactStore(tmp_path / "store")
    for work, trial in zip(runs, study.get_trials(), strict=True):
        kept = kept_models(trial)
        assert kept is not None and kept.job_id == work.job_id and kept.error is None
        for kind, item in kept.files().items():
            with store.open_reader(item.artifact_id) as reader:
                assert reader.read() == f"{kind} model of job {work.job_id}".encode()
        assert {m.filename for m in get_all_artifact_meta(trial, storage=study._storage)} == {
            f"s-trial{trial.number}-float32.tflite", f"s-trial{trial.number}-int8.tflite"}
    written, problems = export_models(tmp_path / "store", study.get_trials()[:2], tmp_path / "out")
    assert problems == [] and sorted(p.name for paths in written.values() for p in paths) == [
        "s-trial0-float32.tflite", "s-trial0-int8.tflite", "s-trial1-float32.tflite", "s-trial1-int8.tflite"]


def test_failures_are_recorded_on_each_trial_and_warned_about_once(tmp_path: Path) -> None:
    study, backend, keeper, out = _setup(tmp_path)
    backend.download_error = TransientError("gave up after 6 attempt(s)", method="GET", route="/learn-data/7/model/x")
    first, second = _trained(study, backend, 7), _trained(study, backend, 7)
    keeper.keep(first)
    keeper.keep(second)
    backend.download_error = None
    missing = _trained(study, backend, 7)
    backend.model_files[7].pop("tflite-int8")
    keeper.keep(missing)
    trials = study.get_trials()
    for trial in trials[:2]:
        kept = kept_models(trial)
        assert kept is not None and kept.files() == {}
        assert kept.error == ("float32: GET /learn-data/7/model/x: gave up after 6 attempt(s); "
                              "int8: GET /learn-data/7/model/x: gave up after 6 attempt(s)")
    last = kept_models(trials[2])
    assert last is not None and set(last.files()) == {"float32"}
    assert "no int8 TensorFlow Lite model of learn block 7" in (last.error or "")
    assert out.getvalue().count("were not kept") == 1 and keeper.failed == 3
    assert "trial 0: its .tflite models were not kept: float32: GET" in out.getvalue()
    with pytest.raises(Exception, match="trial 0 kept no model files: float32"):
        export_models(tmp_path / "store", trials[:1], tmp_path / "none")
    assert not (tmp_path / "none").exists()  # a refused export leaves nothing


def test_an_unreadable_or_empty_list_is_recorded_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    study, backend, keeper, _ = _setup(tmp_path)
    work, empty = _trained(study, backend, 7), _trained(study, backend, 7)

    def refused(impulse_id: int | None = None) -> list[Download]:
        raise ApiError("not allowed", method="GET", route="/downloads", status_code=400)

    with monkeypatch.context() as patch:
        patch.setattr(backend, "downloads", refused)
        keeper.keep(work)
    backend.model_files.clear()
    keeper.keep(empty)
    first, second = (KeptModels.model_validate(t.user_attrs["model_files"]) for t in study.get_trials())
    assert first.files() == {} and first.error == "the downloads list could not be read: GET /downloads -> HTTP 400: " \
                                                  "not allowed"
    assert second.files() == {} and "no float32 TensorFlow Lite model of learn block 7 (it lists nothing)" in (
        second.error or "")
