"""GET /dsp-data/{dspId}/x|y/{category}: read and checked (sweep/studio/dsp_data.py), served by the local studio from
its test split and by the fake Studio, both driven by the official client's own download methods."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import edgeimpulse_api as ei
import numpy as np
import pytest

from sweep.errors import ProtocolError
from sweep.local import datasets
from sweep.local.embedded import EmbeddedStudio
from sweep.studio.client import StudioClient
from sweep.studio.dsp_data import TEST_SPLIT_HEADER, read_labels, window_data
from sweep.studio.transport import make_http_client

from fake_studio import FakeStudio, fake_studio  # noqa: F401
from local_fixtures import local_studio, official_api, wait_for  # noqa: F401

ROUTE = "/api/1/dsp-data/2/x/testing"


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def test_features_and_labels_are_read_as_edge_impulses_training_code_reads_them() -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    y = np.array([[1, 10], [3, 11], [2, 11]])  # [class (1-based), sample id]
    got = window_data(_npy(x), _npy(y), json.dumps({"firstJob": 4}), ROUTE, 3)
    assert got.x.shape == (3, 4) and got.y.tolist() == [0, 2, 1] and got.samples is not None
    assert got.samples.tolist() == [10, 11, 11] and got.split == {"firstJob": 4}
    assert read_labels(_npy(np.array([2, 1])), ROUTE)[1] is None  # 1-D: classes alone


@pytest.mark.parametrize(("x", "y", "fragment"), [
    pytest.param(b'{"version": 1, "samples": []}', None, "structured JSON labels", id="structured-features"),
    pytest.param(None, b'{"version": 1, "samples": []}', "labels are not in NumPy's format (structured JSON labels",
                 id="structured-labels"),
    pytest.param(b"PK\x03\x04zip", None, "features are not in NumPy's format", id="not-numpy"),
    pytest.param(None, _npy(np.array([[1, 5], [2, 6]])), "3 windows of features but 2 labels", id="count"),
    pytest.param(None, _npy(np.array([[1, 5], [4, 6], [2, 7]])), "class is 4, outside the learn block's 3 classes",
                 id="class-out-of-range"),
    pytest.param(None, _npy(np.array([[0, 5], [1, 6], [2, 7]])), "class is 0", id="zero-based"),
    pytest.param(None, _npy(np.array([0.5, 1.0, 2.0])), "not whole numbers", id="fractions"),
])
def test_a_wrong_guess_about_the_format_fails_loudly(x: bytes | None, y: bytes | None, fragment: str) -> None:
    with pytest.raises(ProtocolError, match=re.escape(fragment)) as info:
        window_data(x or _npy(np.zeros((3, 4), np.float32)), y or _npy(np.array([[1, 5], [2, 6], [3, 7]])), None,
                    ROUTE, 3)
    assert ROUTE in str(info.value)


def _digits_dsp(api: Any) -> int:
    return int(ei.ImpulseApi(api).get_impulse(datasets.DIGITS_ID).impulse.dsp_blocks[0].id)


def _download(api: Any, project: int, dsp_id: int, category: str) -> tuple[np.ndarray, np.ndarray, Any]:
    """The official client's own download methods (typed ``str``: the raw answer, as NumPy binary is no text)."""
    dsp = ei.DSPApi(api)
    x = dsp.download_dsp_data(project, dsp_id, category, _preload_content=False)
    y = dsp.download_dsp_labels(project, dsp_id, category, _preload_content=False)
    assert x.status == 200 and y.status == 200
    assert x.getheader("content-type") == "application/octet-stream"
    return np.load(io.BytesIO(x.data)), np.load(io.BytesIO(y.data)), y


def test_the_local_studio_serves_its_test_split_to_the_official_client(local_studio: EmbeddedStudio,
                                                                       official_api: Any) -> None:
    dsp_id = _digits_dsp(official_api)
    x, y, answer = _download(official_api, datasets.DIGITS_ID, dsp_id, "testing")
    project = datasets.get_project(local_studio.data_dir, datasets.DIGITS_ID)
    assert project.test_split is not None
    assert x.shape == (360, 64) and x.dtype == np.float32 and y.shape == (360, 2)
    assert set(y[:, 1].tolist()) == set(project.test_split.samples)  # exactly the testing samples
    assert y[:, 0].min() == 1 and y[:, 0].max() == 10  # 1-based classes
    assert np.array_equal(x, datasets.load_arrays(project, "testing")[0].reshape(360, 64))
    assert json.loads(answer.getheader(TEST_SPLIT_HEADER)) == {**project.test_split.header()}
    train_x, train_y, _ = _download(official_api, datasets.DIGITS_ID, dsp_id, "training")
    assert len(train_x) == 1797 - 360 and set(train_y[:, 1].tolist()).isdisjoint(y[:, 1].tolist())
    with pytest.raises(ei.exceptions.ApiException) as info:
        ei.DSPApi(official_api).download_dsp_data(datasets.DIGITS_ID, dsp_id, "testing", raw=True)
    assert info.value.status == 400 and "raw=true" in info.value.body


def test_our_client_reads_the_local_studios_testing_windows(local_studio: EmbeddedStudio,
                                                            official_api: Any) -> None:
    with make_http_client(local_studio.base_url, local_studio.api_key) as http:
        client = StudioClient(http, datasets.KEYWORDS_RAW_ID)
        dsp_id = client.impulse().dsp_blocks[0].id
        with pytest.raises(Exception, match=r"features of DSP block [0-9]+ are not generated"):
            client.dsp_data(dsp_id, "testing", 6)  # a raw project's features come from a job first
        job = client.generate_features(dsp_id)
        wait_for(lambda: client.job_status(job).finished, 60, f"features job {job}")
        got = client.dsp_data(dsp_id, "testing", 6)
    project = datasets.get_project(local_studio.data_dir, datasets.KEYWORDS_RAW_ID)
    assert project.test_split is not None and got.samples is not None and got.split is not None
    assert set(got.samples.tolist()) == set(project.test_split.samples)  # every window from a testing sample
    assert got.split["firstJob"] == project.test_split.first_job and got.split["samples"] == 120
    assert len(got.y) == len(got.x) >= 120


def test_the_fake_studio_serves_the_route_as_the_official_client_expects(fake_studio: FakeStudio) -> None:
    config = ei.Configuration(host=fake_studio.base_url, api_key={"ApiKeyAuthentication": fake_studio.api_key})
    with ei.ApiClient(config) as api:
        dsp_id = int(ei.ImpulseApi(api).get_impulse(fake_studio.project_id).impulse.dsp_blocks[0].id)
        x, y, answer = _download(api, fake_studio.project_id, dsp_id, "testing")
    assert np.array_equal(x, fake_studio.testing[0]) and np.array_equal(y, fake_studio.testing[1])
    assert answer.getheader(TEST_SPLIT_HEADER) is None  # Studio's testing data is apart from the start
    with make_http_client(fake_studio.base_url, None) as http:
        http.headers["x-api-key"] = fake_studio.api_key
        got = StudioClient(http, fake_studio.project_id).dsp_data(dsp_id, "testing", len(fake_studio.class_names))
    assert got.split is None and got.samples is not None and len(got.y) == len(fake_studio.testing[0])
