"""The downloads list and a learn block's model files: parsing, picking the models from the list, fetching bytes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from edgeimpulse_api.models.project_downloads_response import ProjectDownloadsResponse as OfficialDownloads

from sweep.errors import ApiError, AuthError, ProtocolError
from sweep.studio.client import StudioClient
from sweep.studio.downloads import Download, listed, model_downloads
from sweep.studio.retry import RetryPolicy

KEY = "ei_0123456789abcdef_secret_key"
PROJECT = 77
BASE = "https://studio.test/v1"


def reply(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


def make(handler: Callable[[httpx.Request], httpx.Response]) -> StudioClient:
    http = httpx.Client(base_url=BASE, headers={"x-api-key": KEY}, transport=httpx.MockTransport(handler))
    return StudioClient(http, PROJECT, retry=RetryPolicy(jitter=False), sleep=lambda s: None)


LIST = {"success": True, "downloads": [
    {"id": "tflite-float", "name": "ei-p-nn-classifier-tensorflow-lite-float32-model.3.lite",
     "type": "TensorFlow Lite (float32)", "size": "12 KB", "link": f"/v1/api/{PROJECT}/learn-data/3/model/tflite-float",
     "impulseId": 1},
    {"name": "ei-p-nn-classifier-tensorflow-lite-int8-quantized-model.3.lite",
     "type": "TensorFlow Lite (int8 quantized)", "size": "4 KB",
     "link": f"/v1/api/{PROJECT}/learn-data/3/model/tflite-int8"},  # no id: read from the link
    {"id": "tflite-savedmodel", "name": "saved_model.zip", "type": "TensorFlow SavedModel", "size": "40 KB",
     "link": f"/v1/api/{PROJECT}/learn-data/3/model/tflite-savedmodel"},
    {"id": "tflite-int8", "name": "other block", "type": "TensorFlow Lite (int8 quantized)",
     "link": f"/v1/api/{PROJECT}/learn-data/9/model/tflite-int8"},
    {"name": "X_training.npy", "type": "Training data (NPY)", "link": f"/v1/api/{PROJECT}/dsp-data/2/x/training"},
]}


def _entries(body: dict[str, Any]) -> list[Download]:
    OfficialDownloads.parse_obj(body)  # the fixture is what the official client accepts
    return [Download.model_validate(d) for d in body["downloads"]]


def test_the_models_are_read_from_the_list_by_link_and_type() -> None:
    found = model_downloads(_entries(LIST), 3)
    assert {k: v.download_id for k, v in found.items()} == {"float32": "tflite-float", "int8": "tflite-int8"}
    assert found["int8"].name.endswith("int8-quantized-model.3.lite")
    assert {k: v.download_id for k, v in model_downloads(_entries(LIST), 9).items()} == {"int8": "tflite-int8"}
    assert model_downloads(_entries(LIST), 4) == {}
    assert "tflite-savedmodel (TensorFlow SavedModel)" in listed(_entries(LIST))


def test_ids_other_than_the_usual_ones_are_taken_from_the_list() -> None:
    body = {"success": True, "downloads": [
        {"id": "model-a", "name": "a.lite", "type": "TensorFlow Lite (float32)",
         "link": "/v1/api/1/learn-data/5/model/x"},
        {"id": "model-b", "name": "b.lite", "type": "TensorFlow Lite (int8 quantized)",
         "link": "https://studio.test/v1/api/1/learn-data/5/model/y"},
        {"id": "tflite-int8", "name": "c.lite", "type": "TensorFlow Lite (int8 quantized)",
         "link": "/v1/api/1/learn-data/5/model/tflite-int8"}]}
    found = model_downloads(_entries(body), 5)
    # an entry's own id wins over its link; of two int8 entries, the usual id wins
    assert (found["float32"].download_id, found["int8"].download_id) == ("model-a", "tflite-int8")


def test_downloads_take_the_impulse_and_model_files_come_back_as_bytes() -> None:
    seen: list[tuple[str, dict[str, str], str]] = []
    model = b"\x1c\x00\x00\x00TFL3 binary \xff\x00"

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, dict(request.url.params), request.headers.get("accept", "")))
        if request.url.path.endswith("/downloads"):
            return reply(LIST)
        return httpx.Response(200, content=model, headers={"content-type": "application/octet-stream"})

    client = make(handler)
    assert [d.link for d in client.downloads(12)] == [d["link"] for d in LIST["downloads"]]
    assert client.download_model(3, "tflite-int8") == model
    assert seen[0][:2] == (f"/v1/api/{PROJECT}/downloads", {"impulseId": "12"})
    assert seen[1] == (f"/v1/api/{PROJECT}/learn-data/3/model/tflite-int8", {}, "application/octet-stream")


def test_a_failed_model_download_is_an_error_never_bytes() -> None:
    answers = [reply({"success": False, "error": "No such model"}, 404),
               reply({"success": False, "error": "Learn block has no trained model"}),  # a JSON 200
               reply({"success": True}),
               httpx.Response(503, text="busy"), httpx.Response(200, content=b"model")]

    client = make(lambda request: answers.pop(0))
    with pytest.raises(ApiError, match="No such model"):
        client.download_model(3, "tflite-int8")
    with pytest.raises(ApiError, match="no trained model"):
        client.download_model(3, "tflite-int8")
    with pytest.raises(ProtocolError, match="JSON, not the file"):
        client.download_model(3, "tflite-int8")
    assert client.download_model(3, "tflite-int8") == b"model"  # the 503 was retried


def test_a_redirect_to_another_host_is_followed_without_the_key() -> None:
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("x-api-key")))
        if request.url.host == "storage.test":
            return httpx.Response(200, content=b"signed model")
        if request.url.path.endswith("/tflite-float"):
            return httpx.Response(302, headers={"location": "https://storage.test/bucket/m.lite?sig=1"})
        return httpx.Response(307, headers={"location": f"{BASE}/api/{PROJECT}/learn-data/3/model/tflite-float"})

    client = make(handler)
    assert client.download_model(3, "tflite-float") == b"signed model"
    assert seen[-1] == ("https://storage.test/bucket/m.lite?sig=1", None)
    assert seen[0][1] == KEY
    seen.clear()
    with pytest.raises(ProtocolError, match="302"):  # same host: followed once, with the key; no second hop
        client.download_model(3, "other")
    assert [key for _, key in seen] == [KEY, KEY]


def test_a_refused_key_on_a_download_is_an_auth_error() -> None:
    client = make(lambda request: reply({"success": False, "error": "denied"}, 403))
    with pytest.raises(AuthError):
        client.download_model(3, "tflite-int8")
