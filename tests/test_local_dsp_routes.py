"""The local studio's DSP routes on the shipped raw audio project, driven by the official client over HTTP:
parameters described and set, features generated from them (cached per configuration), their provenance and
shape, the device cost, clones, and a train job on the features a configuration made."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import edgeimpulse_api as ei
import numpy as np
import pytest

from sweep.local import datasets
from sweep.local.embedded import EmbeddedStudio
from sweep.local.raw_features import feature_project

from local_fixtures import http_client, official_client, start_studio, wait_for

pytestmark = pytest.mark.slow
RAW = 3  # keywords-raw
CONV = {"mode": "visual", "trainingCycles": 3, "learningRate": 0.005,
        "visualLayers": [{"type": "reshape", "columns": 16}, {"type": "conv1d", "neurons": 8, "kernelSize": 3},
                         {"type": "flatten"}]}


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStudio]:
    with start_studio(tmp_path_factory.mktemp("local-dsp")) as server:
        yield server


@pytest.fixture(scope="module")
def api(studio: EmbeddedStudio) -> Iterator[Any]:
    client = official_client(studio)
    try:
        yield client
    finally:
        client.close()


def _ids(api: Any) -> tuple[int, int]:
    impulse = ei.ImpulseApi(api).get_impulse(RAW).impulse
    return impulse.dsp_blocks[0].id, impulse.learn_blocks[0].id


def _features(api: Any, dsp_id: int) -> Any:
    job = ei.JobsApi(api).generate_features_job(RAW, ei.GenerateFeaturesRequest(dsp_id=dsp_id)).id
    return wait_for(lambda: (s := ei.JobsApi(api).get_job_status(RAW, job).job).finished and s, 60, f"job {job}")


def _set(api: Any, dsp_id: int, **config: str) -> None:
    ei.DSPApi(api).set_dsp_config(RAW, dsp_id, ei.DSPConfigRequest(config=config))


def test_the_raw_projects_mfe_block_describes_and_takes_its_parameters(api: Any) -> None:
    dsp_id, _ = _ids(api)
    answer = ei.DSPApi(api).get_dsp_config(RAW, dsp_id)  # parses with the official models
    items = {i.param: i for g in answer.config for i in g.items}
    assert {"frame_length", "frame_stride", "num_filters", "fft_length", "low_frequency", "high_frequency",
            "noise_floor_db"} <= set(items)
    assert items["num_filters"].value == "40" and items["implementation_version"].readonly
    _set(api, dsp_id, num_filters="16")
    items = {i.param: i for g in ei.DSPApi(api).get_dsp_config(RAW, dsp_id).config for i in g.items}
    assert items["num_filters"].value == "16" and items["frame_length"].value == items["frame_length"].default_value
    with pytest.raises(ei.exceptions.ApiException) as refused:
        _set(api, dsp_id, num_filters="1")
    assert refused.value.status == 400 and "num_filters" in refused.value.body and "'1'" in refused.value.body
    with pytest.raises(ei.exceptions.ApiException) as unknown:
        _set(api, dsp_id, num_fliters="16")
    assert unknown.value.status == 400 and "num_fliters" in unknown.value.body


def test_features_follow_the_configuration_and_are_computed_once(studio: EmbeddedStudio, api: Any) -> None:
    dsp_id, learn_id = _ids(api)
    _set(api, dsp_id, num_filters="16", frame_length="0.032", frame_stride="0.032")
    assert ei.DSPApi(api).get_dsp_config(RAW, dsp_id).dsp.features.generated is False  # stale after the change
    job = _features(api, dsp_id)
    assert job.finished_successful
    meta = ei.DSPApi(api).get_dsp_metadata(RAW, dsp_id)
    assert meta.generated and meta.dsp_config["num_filters"] == "16" and meta.window_size_ms == 1000
    assert (meta.output_config.type, meta.output_config.shape.width, meta.output_config.shape.height) == (
        "spectrogram", 31, 16)  # Studio's order: width counts frames, height the filters
    project = datasets.get_project(studio.data_dir, RAW)
    sets = list((project.path / "features").iterdir())
    assert len(sets) == 1
    made = (sets[0] / "X.npy").stat().st_mtime_ns
    again = _features(api, dsp_id)  # the same configuration: found, not computed again
    assert again.finished_successful and (sets[0] / "X.npy").stat().st_mtime_ns == made
    view = feature_project(project, sets[0].name)
    x = np.load(view.path / "X.npy")
    assert x.shape == (600, 31 * 16) and view.input_shape == (31, 16, 1)
    with http_client(studio) as http:  # a train job reads those features
        job_id = http.post(f"/api/{RAW}/jobs/train/keras/{learn_id}", json=CONV).json()["id"]
        done = wait_for(lambda: (s := http.get(f"/api/{RAW}/jobs/{job_id}/status").json()["job"]).get("finished")
                        and s, 120, f"train job {job_id}")
        log = "".join(i["data"] for i in http.get(f"/api/{RAW}/jobs/{job_id}/stdout", params={"limit": 500})
                      .json()["stdout"])
    assert done["finishedSuccessful"], log
    assert "384 training, 96 validation samples, 6 classes (120 testing samples held out" in log  # of 600


def test_the_device_cost_grows_with_the_work(api: Any) -> None:
    dsp_id, _ = _ids(api)
    costs = []
    for filters in ("8", "32"):
        _set(api, dsp_id, num_filters=filters, frame_stride="0.016", frame_length="0.032")
        answer = ei.DSPApi(api).get_performance_all_variants(RAW, dsp_id)
        costs.append({p.mcu: (p.latency, p.ram) for p in answer.performance})
    assert "cortex-m4f-80mhz" in costs[0]
    assert all(costs[1][mcu][0] >= costs[0][mcu][0] and costs[1][mcu][1] > costs[0][mcu][1] for mcu in costs[0])
    assert costs[0]["cortex-m0plus-48mhz"][0] > costs[0]["cortex-m7-216mhz"][0]  # a slower core takes longer


def test_a_clone_starts_with_its_sources_parameters_and_drops_them_when_deleted(studio: EmbeddedStudio,
                                                                             api: Any) -> None:
    dsp_id, _ = _ids(api)
    _set(api, dsp_id, num_filters="24")
    clone_id = ei.ImpulseApi(api).clone_impulse_structure(RAW, 1, ei.CloneImpulseRequest(name="c")).id
    clone_dsp = ei.ImpulseApi(api).get_impulse(RAW, impulse_id=clone_id).impulse.dsp_blocks[0].id
    assert clone_dsp != dsp_id
    items = {i.param: i.value for g in ei.DSPApi(api).get_dsp_config(RAW, clone_dsp).config for i in g.items}
    assert items["num_filters"] == "24"
    ei.ImpulseApi(api).delete_impulse(RAW, impulse_id=clone_id)
    stored = json.loads((studio.data_dir / "dsp" / f"{RAW}.json").read_text())
    assert str(clone_dsp) not in stored and stored[str(dsp_id)]["num_filters"] == "24"


def test_a_projects_precomputed_features_have_no_parameters_to_set(api: Any) -> None:
    impulse = ei.ImpulseApi(api).get_impulse(2).impulse  # keywords: shipped spectrograms
    dsp_id = impulse.dsp_blocks[0].id
    assert ei.DSPApi(api).get_dsp_config(2, dsp_id).config == []
    with pytest.raises(ei.exceptions.ApiException) as refused:
        ei.DSPApi(api).set_dsp_config(2, dsp_id, ei.DSPConfigRequest(config={"num_filters": "8"}))
    assert refused.value.status == 400 and "no parameters to set" in refused.value.body
    meta = ei.DSPApi(api).get_dsp_metadata(2, dsp_id)
    assert (meta.output_config.shape.width, meta.output_config.shape.height) == (32, 16)
    assert ei.DSPApi(api).get_performance_all_variants(2, dsp_id).performance == []


def test_precomputed_features_are_not_made_again_for_another_window(api: Any) -> None:
    """keywords' spectrograms were computed for one window: a clone with another window cannot get features."""
    impulses = ei.ImpulseApi(api)
    clone_id = impulses.clone_impulse_structure(2, 1, ei.CloneImpulseRequest(name="w")).id
    clone = impulses.get_impulse(2, impulse_id=clone_id).impulse
    body = clone.to_dict()
    body["inputBlocks"][0]["windowSizeMs"] = 500
    impulses.create_impulse(2, ei.CreateImpulseRequest.from_dict(body), impulse_id=clone_id)
    job = ei.JobsApi(api).generate_features_job(2, ei.GenerateFeaturesRequest(dsp_id=clone.dsp_blocks[0].id)).id
    done = wait_for(lambda: (s := ei.JobsApi(api).get_job_status(2, job).job).finished and s, 30, f"job {job}")
    assert done.finished_successful is False
    log = "".join(i.data for i in ei.JobsApi(api).get_jobs_logs(2, job).stdout)
    assert "cannot be made again" in log and "sweep import NAME --raw" in log
    impulses.delete_impulse(2, impulse_id=clone_id)
