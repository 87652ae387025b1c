"""Parallel slots from cloned impulses on the REAL local studio, driven by the OFFICIAL edgeimpulse_api client.

Clone -> fresh project-unique ids and the source's config -> no features -> a train job fails saying so ->
generate-features -> the clone trains its own model (the source's untouched) -> two clones train at once ->
create/delete/limit rules -> a restart keeps it all -> the official SDK's helpers work against the server.
The tests run in file order on one server (module scope), as a sweep would use it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import edgeimpulse_api as ei
import pytest

from sweep.local.devices import DEVICES
from sweep.local.embedded import EmbeddedStudio

from local_fixtures import TINY_TRAIN, http_client, official_client, start_studio, wait_for

pytestmark = pytest.mark.slow
DIGITS, KEYWORDS = 1, 2
MAX_IMPULSES = 3
BOTH_TRAIN = {"trainingCycles": 25, "learningRate": 0.01, "batchSize": 16}  # long enough to overlap
LONG_TRAIN = {"trainingCycles": 3000, "learningRate": 0.001, "batchSize": 16}
NOT_GENERATED = "are not generated: run a generate-features job first"


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStudio]:
    with start_studio(tmp_path_factory.mktemp("local-impulses"), concurrency=2,
                      extra_args=["--max-impulses", str(MAX_IMPULSES)]) as server:
        yield server


@pytest.fixture(scope="module")
def api(studio: EmbeddedStudio) -> Iterator[Any]:
    client = official_client(studio)
    try:
        yield client
    finally:
        client.close()


def _dt(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _refused(call: Any, status: int, *args: Any, **kwargs: Any) -> str:
    """Call an official-client method that must fail with ``status``; the error message it carried."""
    with pytest.raises(ei.exceptions.ApiException) as caught:
        call(*args, **kwargs)
    assert caught.value.status == status, caught.value.body
    body = json.loads(caught.value.body)
    assert body["success"] is False and body["error"]
    return str(body["error"])


def _impulse(api: Any, project: int, name: str) -> Any:
    found = [i for i in ei.ImpulseApi(api).get_all_impulses(project).impulses if i.name == name]
    assert len(found) == 1, f"one impulse named {name!r} expected"
    return found[0]


def _block_ids(impulse: Any) -> list[int]:
    blocks = impulse.input_blocks + impulse.dsp_blocks + impulse.learn_blocks + impulse.post_processing_blocks
    return [b.id for b in blocks]


def _finished(api: Any, job_id: int, project: int = DIGITS, timeout: float = 120.0) -> Any:
    jobs = ei.JobsApi(api)
    return wait_for(lambda: (j := jobs.get_job_status(project, job_id).job).finished is not None and j,
                    timeout, f"job {job_id}")


def _train(api: Any, learn_id: int, body: dict[str, Any], project: int = DIGITS) -> int:
    start = ei.JobsApi(api).train_keras_job(project, learn_id, ei.SetKerasParameterRequest.from_dict(body))
    assert start.success and start.id > 0
    return int(start.id)


def _generate(api: Any, dsp_id: int, project: int = DIGITS) -> Any:
    jobs = ei.JobsApi(api)
    start = jobs.generate_features_job(project, ei.GenerateFeaturesRequest(dsp_id=dsp_id, skip_feature_explorer=True))
    assert start.success
    job = _finished(api, start.id, project, timeout=30)
    assert job.finished_successful is True
    return job


def _log(api: Any, job_id: int, project: int = DIGITS) -> list[str]:
    return [i.data for i in ei.JobsApi(api).get_jobs_logs(project, job_id).stdout]


# ---- the scenario ---------------------------------------------------------------------------------


def test_a_clone_has_fresh_ids_the_source_config_and_no_features(api: Any) -> None:
    impulses, learn = ei.ImpulseApi(api), ei.LearnApi(api)
    assert learn.set_keras(DIGITS, 3, ei.SetKerasParameterRequest(training_cycles=4, learning_rate=0.004)).success
    listed = impulses.get_all_impulses(DIGITS)
    assert listed.max_impulse_count == MAX_IMPULSES and [i.id for i in listed.impulses] == [1]
    default = impulses.get_impulse(DIGITS).impulse
    assert impulses.get_impulse(DIGITS, impulse_id=1).impulse == default

    made = impulses.clone_impulse_structure(DIGITS, 1, ei.CloneImpulseRequest(name="sweep:digits:1"))
    assert made.success and made.id != 1
    clone = impulses.get_impulse(DIGITS, impulse_id=made.id).impulse
    assert clone.name == "sweep:digits:1" and len(clone.learn_blocks) == len(default.learn_blocks) == 2
    assert not set(_block_ids(clone)) & set(_block_ids(default)), "block ids are unique across the project"
    assert len(set(_block_ids(clone))) == len(_block_ids(clone))
    assert clone.dsp_blocks[0].input == clone.input_blocks[0].id
    assert all(b.dsp == [clone.dsp_blocks[0].id] for b in clone.learn_blocks)
    assert [b.type for b in clone.dsp_blocks] == [b.type for b in default.dsp_blocks]

    config = learn.get_keras(DIGITS, clone.learn_blocks[0].id)
    assert (config.training_cycles, config.learning_rate) == (4, 0.004), "the source's saved config is copied"
    assert config.name == default.learn_blocks[0].name and config.trained is False
    assert learn.get_keras_metadata(DIGITS, clone.learn_blocks[0].id).has_trained_model is False

    dsp = ei.DSPApi(api)
    ours = dsp.get_dsp_config(DIGITS, default.dsp_blocks[0].id).dsp
    assert ours.features.generated is True and ours.features.count == 1797 and ours.expected_window_count == 1797
    theirs = dsp.get_dsp_config(DIGITS, clone.dsp_blocks[0].id).dsp
    assert theirs.features.generated is False and theirs.classes == [str(i) for i in range(10)]


def test_a_clone_without_features_fails_to_train_then_generates_them(api: Any) -> None:
    clone = _impulse(api, DIGITS, "sweep:digits:1")
    dsp_id, learn_id = clone.dsp_blocks[0].id, clone.learn_blocks[0].id
    job = _finished(api, _train(api, learn_id, TINY_TRAIN), timeout=30)
    reason = job.metadata["failureReason"]
    assert job.finished_successful is False and job.key == f"keras-{learn_id}"
    assert reason == f"features of DSP block {dsp_id} (impulse 'sweep:digits:1') {NOT_GENERATED}"
    assert any(reason in line for line in _log(api, job.id))

    jobs = ei.JobsApi(api)
    start = jobs.generate_features_job(DIGITS, ei.GenerateFeaturesRequest(dsp_id=dsp_id))
    again = _refused(jobs.generate_features_job, 409, DIGITS, ei.GenerateFeaturesRequest(dsp_id=dsp_id))
    assert f"generate-features job {start.id} running" in again
    running = jobs.get_job_status(DIGITS, start.id).job
    assert running.finished is None and running.key == f"dsp-{dsp_id}" and running.category == "Generating features"
    assert start.id in [j.id for j in jobs.list_active_jobs(DIGITS).jobs]
    done = _finished(api, start.id, timeout=30)
    assert done.finished_successful is True
    assert any("Generating features" in line for line in _log(api, start.id))
    assert start.id in [j.id for j in jobs.list_all_jobs(DIGITS, key=f"dsp-{dsp_id}").jobs]
    features = ei.DSPApi(api).get_dsp_config(DIGITS, dsp_id).dsp.features
    assert features.generated is True and features.count == 1797

    assert "DSP block 9999 does not exist" in _refused(jobs.generate_features_job, 404, DIGITS,
                                                      ei.GenerateFeaturesRequest(dsp_id=9999))
    _refused(ei.DSPApi(api).get_dsp_config, 404, DIGITS, 9999)


def test_the_clone_trains_its_own_model_and_leaves_the_source_alone(api: Any) -> None:
    learn = ei.LearnApi(api)
    assert _finished(api, _train(api, 3, TINY_TRAIN)).finished_successful is True
    source_created = learn.get_keras_metadata(DIGITS, 3).created
    clone_learn = _impulse(api, DIGITS, "sweep:digits:1").learn_blocks[0].id
    job = _finished(api, _train(api, clone_learn, TINY_TRAIN))
    assert job.finished_successful is True, _log(api, job.id)
    ours = learn.get_keras_metadata(DIGITS, clone_learn)
    assert ours.has_trained_model and _dt(ours.created) >= _dt(job.started)
    assert learn.get_keras_metadata(DIGITS, 3).created == source_created, "the source's model is untouched"
    assert learn.get_keras(DIGITS, clone_learn).trained is True


def test_two_clones_train_at_once_and_the_limit_refuses_a_fourth_impulse(api: Any) -> None:
    impulses = ei.ImpulseApi(api)
    second = impulses.clone_impulse_structure(DIGITS, 1, ei.CloneImpulseRequest(name="sweep:digits:2"))
    first, other = _impulse(api, DIGITS, "sweep:digits:1"), impulses.get_impulse(DIGITS, impulse_id=second.id).impulse
    assert min(_block_ids(other)) > max(_block_ids(first)), "fresh ids: past every id the project has used"
    _generate(api, other.dsp_blocks[0].id)
    ids = [_train(api, first.learn_blocks[1].id, BOTH_TRAIN), _train(api, other.learn_blocks[0].id, BOTH_TRAIN)]
    jobs = [_finished(api, job_id) for job_id in ids]
    assert all(j.finished_successful for j in jobs), [_log(api, j.id) for j in jobs]
    assert max(_dt(j.started) for j in jobs) < min(_dt(j.finished) for j in jobs), "both jobs ran at the same time"

    error = _refused(impulses.clone_impulse_structure, 400, DIGITS, 1, ei.CloneImpulseRequest(name="one too many"))
    assert f"already has {MAX_IMPULSES} impulses" in error and "maxImpulseCount" in error
    assert len(impulses.get_all_impulses(DIGITS).impulses) == MAX_IMPULSES
    _refused(impulses.clone_impulse_structure, 404, DIGITS, 77, ei.CloneImpulseRequest(name="from nothing"))


def test_delete_a_clone_but_never_the_default_or_a_busy_one(api: Any) -> None:
    impulses, learn, jobs = ei.ImpulseApi(api), ei.LearnApi(api), ei.JobsApi(api)
    gone = _impulse(api, DIGITS, "sweep:digits:2")
    busy = _train(api, gone.learn_blocks[0].id, LONG_TRAIN)
    assert f"has job {busy} running" in _refused(impulses.delete_impulse, 409, DIGITS, impulse_id=gone.id)
    assert jobs.cancel_job(DIGITS, busy, force_cancel="true").success
    assert "default impulse" in _refused(impulses.delete_impulse, 400, DIGITS)
    assert "default impulse" in _refused(impulses.delete_impulse, 400, DIGITS, impulse_id=1)
    _refused(impulses.delete_impulse, 404, DIGITS, impulse_id=4242)

    assert impulses.delete_impulse(DIGITS, impulse_id=gone.id).success
    assert "does not exist" in _refused(learn.get_keras_metadata, 404, DIGITS, gone.learn_blocks[0].id)
    _refused(learn.get_keras, 404, DIGITS, gone.learn_blocks[0].id)
    _refused(jobs.train_keras_job, 404, DIGITS, gone.learn_blocks[0].id, ei.SetKerasParameterRequest())
    _refused(ei.DSPApi(api).get_dsp_config, 404, DIGITS, gone.dsp_blocks[0].id)
    _refused(impulses.get_impulse, 404, DIGITS, impulse_id=gone.id)
    _refused(ei.ProjectsApi(api).get_project_info, 404, DIGITS, impulse_id=gone.id)
    again = impulses.clone_impulse_structure(DIGITS, 1, ei.CloneImpulseRequest(name="sweep:digits:2"))
    fresh = impulses.get_impulse(DIGITS, impulse_id=again.id).impulse
    assert again.id > gone.id and min(_block_ids(fresh)) > max(_block_ids(gone)), "no id is handed out twice"
    assert impulses.delete_impulse(DIGITS, impulse_id=again.id).success


def test_create_impulse_changes_the_window_and_stales_the_features(api: Any) -> None:
    impulses, dsp = ei.ImpulseApi(api), ei.DSPApi(api)
    made = impulses.clone_impulse_structure(KEYWORDS, 1, ei.CloneImpulseRequest(name="sweep:keywords:1"))
    clone = impulses.get_impulse(KEYWORDS, impulse_id=made.id).impulse
    dsp_id = clone.dsp_blocks[0].id
    _generate(api, dsp_id, KEYWORDS)
    assert dsp.get_dsp_config(KEYWORDS, dsp_id).dsp.window_length == 1000

    body = ei.CreateImpulseRequest.from_dict(clone.to_dict())
    body.input_blocks[0].window_size_ms = 500
    answer = impulses.create_impulse(KEYWORDS, body, impulse_id=made.id)
    assert answer.success and answer.id == made.id
    changed = impulses.get_impulse(KEYWORDS, impulse_id=made.id).impulse
    assert changed.input_blocks[0].window_size_ms == 500 and _block_ids(changed) == _block_ids(clone)
    info = dsp.get_dsp_config(KEYWORDS, dsp_id).dsp
    assert info.window_length == 500 and info.features.generated is False
    job = _finished(api, _train(api, clone.learn_blocks[0].id, TINY_TRAIN, KEYWORDS), KEYWORDS, timeout=30)
    assert job.finished_successful is False and "are stale" in job.metadata["failureReason"]
    # keywords holds spectrograms computed for a 1000 ms window: they cannot be made again for 500 ms
    jobs = ei.JobsApi(api)
    start = jobs.generate_features_job(KEYWORDS, ei.GenerateFeaturesRequest(dsp_id=dsp_id))
    refused = _finished(api, start.id, KEYWORDS, timeout=30)
    assert refused.finished_successful is False and "cannot be made again" in refused.metadata["failureReason"]
    assert dsp.get_dsp_config(KEYWORDS, dsp_id).dsp.features.generated is False
    body.input_blocks[0].window_size_ms = 1000  # back to the window they were made for
    impulses.create_impulse(KEYWORDS, body, impulse_id=made.id)
    _generate(api, dsp_id, KEYWORDS)
    assert dsp.get_dsp_config(KEYWORDS, dsp_id).dsp.features.generated is True


def test_create_impulse_refuses_what_the_local_studio_cannot_serve(api: Any) -> None:
    impulses = ei.ImpulseApi(api)
    clone = _impulse(api, KEYWORDS, "sweep:keywords:1")
    default = impulses.get_impulse(KEYWORDS).impulse

    def body(change: Any, source: Any = clone) -> Any:
        data = source.to_dict()
        change(data)
        return ei.CreateImpulseRequest.from_dict(data)

    def anomaly(d: dict[str, Any]) -> None:
        d["learnBlocks"][0]["type"] = "anomaly"

    def taken_id(d: dict[str, Any]) -> None:
        d["learnBlocks"][0]["id"] = default.learn_blocks[0].id

    def new_learn_id(d: dict[str, Any]) -> None:
        d["learnBlocks"][0]["id"] = 900

    def no_dsp(d: dict[str, Any]) -> None:
        d["learnBlocks"][0]["dsp"] = [901]

    for change, says in ((anomaly, "trains 'keras' only"), (taken_id, "belong to other impulses"),
                         (no_dsp, "must take DSP blocks of this impulse")):
        assert says in _refused(impulses.create_impulse, 400, KEYWORDS, body(change), impulse_id=clone.id)
    assert "keeps the learn blocks" in _refused(impulses.create_impulse, 400, KEYWORDS,
                                                body(new_learn_id, default))
    _refused(impulses.create_impulse, 404, KEYWORDS, body(anomaly), impulse_id=4242)
    assert impulses.get_impulse(KEYWORDS, impulse_id=clone.id).impulse == clone, "a refused body changes nothing"


@pytest.mark.parametrize(("method", "path", "body", "says"), [
    ("POST", "/api/1/impulse/1/clone/structure", {"name": 5}, "name: Input should be a valid string"),
    ("POST", "/api/1/impulse/1/clone/structure", {"name": "  "}, "must not be empty"),
    ("POST", "/api/1/impulse/1/clone/structure", b"not json", "Invalid JSON"),
    ("POST", "/api/1/jobs/generate-features", {"dspId": "2"}, "dspId: Input should be a valid integer"),
    ("POST", "/api/1/jobs/generate-features", {}, "dspId: Field required"),
    ("POST", "/api/1/impulse", {"inputBlocks": []}, "dspBlocks: Field required"),
    ("GET", "/api/1/impulse?impulseId=abc", None, "impulseId must be an integer"),
    ("GET", "/api/1/impulse?impulseId=0", None, "impulseId must be >= 1"),
])
def test_bad_requests_are_400_and_change_nothing(studio: EmbeddedStudio, method: str, path: str, body: Any,
                                                 says: str) -> None:
    with http_client(studio) as http:
        before = http.get("/api/1/impulses").json()
        content = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
        answer = http.request(method, path, content=content, headers={"content-type": "application/json"})
        assert answer.status_code == 400, answer.text
        assert answer.json()["success"] is False and says in answer.json()["error"]
        assert http.get("/api/1/impulses").json() == before


def test_the_official_sdk_finds_the_project_and_its_devices(api: Any) -> None:
    from edgeimpulse import util  # the official SDK, unchanged (the test extra installs edgeimpulse==1.0.20)

    assert util.default_project_id_for(api) == DIGITS
    assert util.get_profile_devices(api) == [d.mcu for d in DEVICES]
    assert util.get_profile_devices(api, project_id=KEYWORDS) == [d.mcu for d in DEVICES]
    listed = ei.ProjectsApi(api).list_projects()
    assert [p.id for p in listed.projects] == [DIGITS, KEYWORDS, 3] and listed.projects[0].name == "digits"
    info = ei.ProjectsApi(api).get_project_info(DIGITS, impulse_id=1)
    assert sum(d.selected for d in info.latency_devices) == 1


def test_a_restart_keeps_impulses_and_feature_state(studio: EmbeddedStudio, api: Any) -> None:
    before = {p: ei.ImpulseApi(api).get_all_impulses(p).impulses for p in (DIGITS, KEYWORDS)}
    clone = _impulse(api, DIGITS, "sweep:digits:1")
    metadata = ei.LearnApi(api).get_keras_metadata(DIGITS, clone.learn_blocks[0].id)
    studio.stop()
    with start_studio(studio.data_dir, concurrency=1, extra_args=["--max-impulses", str(MAX_IMPULSES)]) as again:
        client = official_client(again)
        try:
            for project, impulses in before.items():
                assert ei.ImpulseApi(client).get_all_impulses(project).impulses == impulses
            dsp = ei.DSPApi(client)
            assert dsp.get_dsp_config(DIGITS, clone.dsp_blocks[0].id).dsp.features.generated is True
            assert dsp.get_dsp_config(DIGITS, 2).dsp.features.generated is True
            assert ei.LearnApi(client).get_keras_metadata(DIGITS, clone.learn_blocks[0].id) == metadata
            later = ei.ImpulseApi(client).clone_impulse_structure(DIGITS, 1, ei.CloneImpulseRequest(name="later"))
            used = [b for i in before[DIGITS] for b in _block_ids(i)]
            fresh = ei.ImpulseApi(client).get_impulse(DIGITS, impulse_id=later.id).impulse
            assert min(_block_ids(fresh)) > max(used) and later.id > max(i.id for i in before[DIGITS])
        finally:
            client.close()
