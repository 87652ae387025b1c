"""A scriptable fake Edge Impulse Studio over real HTTP on 127.0.0.1: time-scripted jobs, no training."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from fake_dsp import FakeDsp
from fake_impulses import FakeImpulses
from fake_socket import TOKEN as SOCKET_TOKEN
from fake_socket import FakeSocket, serve_socket_io
from pydantic import ValidationError

from sweep.local import views
from sweep.local.datasets import LocalProject
from sweep.studio.models import (
    FAILURE_CAUSE,
    DeviceBudget,
    GenericApiResponse,
    GetJobResponse,
    Job,
    JobLogItem,
    KerasModelMetadataGraph,
    KerasModelMetadataGraphSeries,
    KerasModelMetadataResponse,
    ListJobsResponse,
    LogStdoutResponse,
    ModelMetrics,
    ModelType,
    OnDevicePerformance,
    SetKerasParameterRequest,
    StartJobResponse,
)

__all__ = ["FakeJob", "FakeStudio", "JobScript", "default_metrics", "fake_studio", "held_out_windows", "model_bytes"]

Metrics = dict[str, float]
Answer = tuple[int, dict[str, Any] | bytes | None, dict[str, str]]  # status, JSON body or a file (None: drop), headers
QUOTA_MS = 3_600_000 * 20  # the project's compute quota per period
FAKE_DATA = views.DataSummary(count=1797, length_ms=0.0, stored=datetime(2026, 11, 1, tzinfo=UTC))  # 8x8 images
FAKE_INPUTS = (["Image"], 1797, 64)  # a learn block's DSP block, its windows and features a window
DEVICES = [("cortex-m4f-80mhz", "Cortex-M4F 80MHz", True, 1.0), ("cortex-m7-216mhz", "Cortex-M7 216MHz", False, 0.3)]


@dataclass
class JobScript:
    """How one train job behaves; every field is time-based, so no background thread is needed."""

    duration_s: float = 0.0
    succeed: bool = True
    log_lines: list[str] | None = None
    metrics: Metrics | Callable[[dict[str, Any]], Metrics] | None = None  # keys: accuracy, loss, int8_accuracy
    stale_metadata: bool = False
    profiling_delay_s: float = 0.0
    drop_post_answer: bool = False
    status_errors: list[int] = field(default_factory=list)
    vanish: bool = False  # once submitted, the job is gone: its routes answer 404 (deleted, or the server lost it)
    failure_cause: str | None = None  # a failed job's metadata.failureCause (the local studio's "server-stopped")


@dataclass
class FakeJob:
    id: int
    learn_id: int
    request: dict[str, Any]
    created: float
    script: JobScript
    cancelled: float | None = None
    kind: str = "train"  # or "profile" (the job a metadata profilingJobId points at), or "features"
    seed: str | None = None  # the X-Sweep-Seed header it was submitted with
    # a train job's: DSP block id -> the input window its features were generated from
    features: dict[int, dict[str, Any]] = field(default_factory=dict)
    features_job: dict[int, int] = field(default_factory=dict)  # a train job's: DSP block id -> the job that made them

    @property
    def key(self) -> str:
        prefix = {"train": "keras", "profile": "profile-keras", "features": "dsp"}[self.kind]
        return f"{prefix}-{self.learn_id}"

    def finished_at(self) -> float:
        end = self.created + self.script.duration_s
        return min(end, self.cancelled) if self.cancelled is not None else end

    def done(self, now: float) -> bool:
        return now >= self.finished_at()

    def successful(self) -> bool:
        end = self.created + self.script.duration_s
        return self.script.succeed and (self.cancelled is None or self.cancelled >= end)


NOT_JSON: Any = object()  # a request body that did not parse
_IDENTITY = ("id", "name", "title", "createdBy", "createdAt")  # an input block's fields its features do not follow


def _request(b: Any) -> dict[str, Any] | Answer:
    """A train/config body as Studio reads it, or its 400 (as Studio answers a body it cannot use)."""
    if b is NOT_JSON or not isinstance(b, dict | None):
        return 400, GenericApiResponse(success=False, error="invalid request body: not a JSON object").wire(), {}
    try:
        return SetKerasParameterRequest.model_validate(b or {}).wire()
    except ValidationError as exc:
        error = f"invalid request body: {exc.errors()[0]['msg']}"
        return 400, GenericApiResponse(success=False, error=error).wire(), {}


def model_bytes(job_id: int, learn_id: int, kind: str) -> bytes:
    """The fake .tflite file a train job leaves on its learn block: it names its job, so a test can tell whose it is."""
    return b"\x1c\x00\x00\x00TFL3" + f" fake {kind} model of job {job_id} on learn block {learn_id}\n".encode()


DOWNLOAD_TYPES = {"float32": "TensorFlow Lite (float32)", "int8": "TensorFlow Lite (int8 quantized)"}


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat()


def _widths(request: dict[str, Any]) -> list[int]:
    return [int(layer.get("neurons") or 0) for layer in request.get("visualLayers") or [] if layer.get("neurons")]


def default_metrics(request: dict[str, Any], training_seed: str | None = None) -> Metrics:
    """Deterministic accuracy from learningRate and layer widths plus noise seeded by the request (best near lr
    3e-3), and, for a job given a training seed, a smaller noise from that seed (what seeds alone change)."""
    lr = float(request.get("learningRate") or 0.005)
    width = sum(_widths(request)) or 16
    seed = int(hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:8], 16)
    noise = ((seed % 1000) / 1000.0 - 0.5) * 0.02
    if training_seed is not None:
        noise += (int(hashlib.sha256(training_seed.encode()).hexdigest()[:8], 16) % 1000 / 1000.0 - 0.5) * 0.006
    acc = 0.97 - 0.08 * (math.log10(lr) + 2.5) ** 2 - 0.15 / math.sqrt(width) + noise
    acc = min(0.995, max(0.05, acc))
    return {"accuracy": acc, "loss": max(0.01, 1.0 - acc), "int8_accuracy": max(0.0, acc - 0.01 - 0.02 / width)}


def _epochs(request: dict[str, Any]) -> int:
    return max(1, int(request.get("trainingCycles") or 5))


def _default_log(request: dict[str, Any], m: Metrics) -> list[str]:
    n = _epochs(request)
    lines = []
    for e in range(1, n + 1):
        f = e / n
        acc, loss = m["accuracy"] * (0.5 + 0.5 * f), m["loss"] * (2 - f)
        lines += [f"Epoch {e}/{n}", f"10/10 - 0s - loss: {loss:.4f} - accuracy: {acc:.4f} - "
                  f"val_loss: {loss * 1.05:.4f} - val_accuracy: {acc * 0.98:.4f}"]
    return lines


class FakeStudio:
    """Serves the train/job/metadata/project routes; jobs follow `JobScript`s queued with `script()`."""

    def __init__(self, *, api_key: str = "test-key-fake-0123456789", project_id: int = 42,
                 learn_block_ids: list[int] | None = None, class_names: list[str] | None = None,
                 devices: list[tuple[str, str, bool, float]] | None = None, port: int = 0,
                 state_file: Path | None = None, default_script: JobScript | None = None,
                 project_socket: bool = True, kind: str = "spectrogram") -> None:
        self.api_key = api_key
        self.project_socket = project_socket  # serve the project socket (socket-token, /socket.io/)
        self.socket: FakeSocket | None = None
        self.project_id = project_id
        self.kind = kind  # the project's data: "spectrogram" (a time-series input block) or "image"
        self.learn_block_ids = list(learn_block_ids or [7])
        self.class_names = list(class_names or ["no", "yes", "noise"])
        self.devices = list(devices or DEVICES)
        self.default_script = default_script or JobScript()
        self.quota_left_ms = QUOTA_MS - 1000  # the project's compute time left this period (settable)
        self.features_duration_s = 0.2  # how long a generate-features job takes
        self.download_ids = {"float32": "tflite-float", "int8": "tflite-int8"}  # the model ids the list gives
        self.model_errors: list[int] = []  # statuses the next model downloads answer instead of the file
        self.train_errors: list[int] = []  # statuses the next train POSTs answer instead of starting a job
        # GET /dsp-data/{dspId}/x|y/testing: the testing windows' features and labels ([class (1-based), sample id]),
        # the same for every DSP block; each download is logged with the block's config at that moment
        self.testing = held_out_windows(len(self.class_names))
        self.dsp_downloads: list[tuple[int, str, dict[str, str]]] = []
        self.tflite: dict[str, bytes] | None = None  # real .tflite files to serve as every job's models (None: fakes)
        self.requests: list[tuple[str, str, dict[str, Any] | None]] = []
        self.busy_s = 0.0  # time spent answering API requests (for benchmarks: the server's share of a round trip)
        self.jobs: dict[int, FakeJob] = {}
        self.configs: dict[int, dict[str, Any]] = {lid: {} for lid in self.learn_block_ids}
        self._queue: list[JobScript] = []
        self._lock = threading.RLock()
        self._seed: str | None = None  # the X-Sweep-Seed header of the request being handled
        self._port = port
        self._state_file = state_file
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._next_id = 1000
        self.imp = FakeImpulses(views.impulse_body(self._project())["impulse"])
        self.dsp = FakeDsp()
        for dsp_id in self.imp.source_dsp:  # the user's impulse has its features from the start
            self.dsp.record(dsp_id, self._window_of(dsp_id), 0)
        if state_file is not None and state_file.exists():
            self._load()

    # ---- lifecycle ----------------------------------------------------------------------------
    def start(self) -> FakeStudio:
        if self.project_socket and self.socket is None:
            self.socket = FakeSocket(self)
        self._server = _Server(("127.0.0.1", self._port), _make_handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.socket = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeStudio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeStudio not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *scripts: JobScript) -> None:
        """Queue scripts consumed in order by successive train POSTs (then `default_script`)."""
        with self._lock:
            self._queue.extend(scripts)

    # ---- persistence --------------------------------------------------------------------------
    def _save(self) -> None:
        if self._state_file is None:
            return
        jobs = []
        for j in self.jobs.values():
            s = asdict(j.script)
            if callable(j.script.metrics):
                s["metrics"] = j.script.metrics(j.request)
            jobs.append({**asdict(j), "script": s})
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"next_id": self._next_id, "jobs": jobs, "configs": self.configs,
                                   "impulses": self.imp.state(), "dsp": self.dsp.state()}))
        tmp.replace(self._state_file)

    def _load(self) -> None:
        assert self._state_file is not None
        state = json.loads(self._state_file.read_text())
        self._next_id = state["next_id"]
        self.configs.update({int(k): v for k, v in state.get("configs", {}).items()})
        if "impulses" in state:
            self.imp.load(state["impulses"])
        if "dsp" in state:
            self.dsp.load(state["dsp"])
        for raw in state["jobs"]:
            features = {int(k): v for k, v in (raw.get("features") or {}).items()}
            made_by = {int(k): int(v) for k, v in (raw.get("features_job") or {}).items()}
            job = FakeJob(**{**raw, "script": JobScript(**raw["script"]), "features": features,
                             "features_job": made_by})
            self.jobs[job.id] = job

    # ---- behaviour ----------------------------------------------------------------------------
    def _metrics(self, job: FakeJob) -> Metrics:
        m = job.script.metrics
        got = m(job.request) if callable(m) else m
        return {**default_metrics(job.request, job.seed), **(got or {})}

    def _log(self, job: FakeJob, now: float) -> list[tuple[float, str]]:
        lines = job.script.log_lines if job.script.log_lines is not None else _default_log(job.request,
                                                                                           self._metrics(job))
        end = job.finished_at()
        span = max(end - job.created, 1e-9)
        out = [(job.created + span * (i + 1) / (len(lines) + 1), line) for i, line in enumerate(lines)]
        out = [(t, line) for t, line in out if t <= now]
        if job.done(now) and job.script.log_lines is None:
            tail = "Job completed" if job.successful() else ("Job was cancelled" if job.cancelled is not None
                                                              else "Job failed (see above)")
            out.append((end, tail))
        return out

    def _job_model(self, job: FakeJob, now: float) -> Job:
        done = job.done(now)
        end = job.finished_at()
        category = {"train": ("Training model", "keras"), "profile": ("Profiling model", "profile"),
                    "features": ("Generating features", "generate-features")}[job.kind]
        cause = job.script.failure_cause if done and not job.successful() else None
        return Job(id=job.id, category=category[0], category_key=category[1], key=job.key,
                   created=_iso(job.created), started=_iso(job.created),
                   finished=_iso(end) if done else None, finished_successful=job.successful() if done else None,
                   compute_time=round(end - job.created, 3) if done else None,
                   metadata={FAILURE_CAUSE: cause} if cause else None)

    def _latest_done(self, learn_id: int, now: float) -> list[FakeJob]:
        return [j for j in sorted(self.jobs.values(), key=lambda j: j.created)
                if j.kind == "train" and j.learn_id == learn_id and j.done(now) and j.successful()]

    def _metadata(self, learn_id: int, now: float) -> dict[str, Any] | None:
        done = self._latest_done(learn_id, now)
        if not done:
            return None
        job = done[-1]
        created = job.finished_at()
        if job.script.stale_metadata:  # the previous model's time, and surely older than this job
            created = min(done[-2].finished_at() if len(done) > 1 else job.created, job.created - 600.0)
        m = self._metrics(job)
        profiler = job.id + 1  # created with the train job when the script delays profiling
        profiling = now < job.finished_at() + job.script.profiling_delay_s
        widths = _widths(job.request) or [16]
        params = sum(a * b for a, b in zip([64, *widths], [*widths, len(self.class_names)], strict=False))
        n = len(self.class_names)

        def metrics_for(mt: ModelType, acc: float) -> ModelMetrics:
            scale = 1 if mt is ModelType.INT8 else 4
            perf = [] if profiling else [
                OnDevicePerformance(
                    mcu=mcu, name=name, is_default=default, latency=round(params * 0.002 * speed * (1 if scale == 1
                                                                                                   else 3), 3),
                    tflite=_budget(params, scale, 1.2), eon=_budget(params, scale, 1.0), has_performance=True)
                for mcu, name, default, speed in self.devices]
            diag = acc * 10
            cm = [[diag if i == k else (10 - diag) / max(n - 1, 1) for k in range(n)] for i in range(n)]
            report: dict[str, Any] = {c: {"precision": acc, "recall": acc, "f1-score": acc, "support": 10.0}
                                      for c in self.class_names}
            report["accuracy"] = acc
            for avg in ("macro avg", "weighted avg"):
                report[avg] = {"precision": acc, "recall": acc, "f1-score": acc, "support": 10.0 * n}
            return ModelMetrics(type=mt, loss=m["loss"], accuracy=acc, confusion_matrix=cm, report=report,
                                on_device_performance=perf, profiling_job_id=profiler if profiling else None)

        epochs = _epochs(job.request)
        curve = [m["accuracy"] * (0.5 + 0.5 * (e + 1) / epochs) for e in range(epochs)]
        loss = [m["loss"] * (2 - (e + 1) / epochs) for e in range(epochs)]
        graphs = [KerasModelMetadataGraph(title="Accuracy", data=[
            KerasModelMetadataGraphSeries(title="accuracy", values=curve),
            KerasModelMetadataGraphSeries(title="val_accuracy", values=[v * 0.98 for v in curve])]),
            KerasModelMetadataGraph(title="Loss", data=[
                KerasModelMetadataGraphSeries(title="loss", values=loss),
                KerasModelMetadataGraphSeries(title="val_loss", values=[v * 1.05 for v in loss])])]
        return KerasModelMetadataResponse(
            success=True, created=_iso(created), class_names=self.class_names, labels=self.class_names,
            available_model_types=[ModelType.FLOAT32, ModelType.INT8], recommended_model_type=ModelType.INT8,
            model_validation_metrics=[metrics_for(ModelType.FLOAT32, m["accuracy"]),
                                      metrics_for(ModelType.INT8, m["int8_accuracy"])],
            has_trained_model=True, tensorboard_graphs=graphs).wire()

    def _project(self) -> LocalProject:
        """The project as the local studio's answer builders describe one (nothing is stored)."""
        return LocalProject(id=self.project_id, name=f"fake-{self.project_id}", kind=self.kind,  # type: ignore[arg-type]
                            input_shape=(96, 96, 3) if self.kind == "image" else (99, 40),
                            labels=self.class_names, impulse_id=1,
                            learn_block_ids=self.learn_block_ids, path=Path("/nonexistent"))

    def handle(self, method: str, path: str, query: dict[str, str], body: dict[str, Any] | None,
               api_key: str | None, seed: str | None = None) -> Answer:
        """Route one request; a None body means 'drop the connection without an answer'."""
        now = time.time()
        with self._lock:
            self.requests.append((method, path, body))
            self._seed = seed
            if api_key != self.api_key:
                return 401, GenericApiResponse(success=False, error="Invalid API key").wire(), {}
            prefix = f"/v1/api/{self.project_id}"
            if not path.startswith(prefix):
                return 404, GenericApiResponse(success=False, error=f"No such project: {path}").wire(), {}
            rest = path[len(prefix):]
            for pattern, verb, fn in self._routes():
                hit = re.fullmatch(pattern, rest)
                if hit and verb == method:
                    return fn(now, query, body, *[int(g) if g.isdigit() else g for g in hit.groups()])
            return 404, GenericApiResponse(success=False, error=f"No route {method} {path}").wire(), {}

    def _routes(self) -> list[tuple[str, str, Callable[..., Answer]]]:
        return [
            (r"", "GET", self._project_info),
            (r"/socket-token", "GET", self._socket_token),
            (r"/impulse", "GET", self._get_impulse),
            (r"/impulses", "GET", lambda now, q, b: (200, {"success": True, "impulses": self.imp.listing(),
                                                            "maxImpulseCount": self.imp.max_impulses}, {})),
            (r"/impulse/(\d+)/clone/structure", "POST", self._clone),
            (r"/impulse", "DELETE", self._delete_impulse),
            (r"/impulse", "POST", self._update_impulse),
            (r"/jobs/generate-features", "POST", self._generate_features),
            (r"/dsp/(\d+)", "GET", self._dsp),
            (r"/dsp/(\d+)", "POST", self._set_dsp),
            (r"/dsp/(\d+)/metadata", "GET", self._dsp_metadata),
            (r"/dsp/(\d+)/performance", "GET", self._dsp_performance),
            (r"/dsp-data/(\d+)/(x|y)/([a-z-]+)", "GET", self._dsp_data),
            (r"/training/keras/(\d+)", "GET", self._get_keras),
            (r"/training/keras/(\d+)", "POST", self._set_keras),
            (r"/training/keras/(\d+)/metadata", "GET", self._get_metadata),
            (r"/downloads", "GET", self._downloads),
            (r"/learn-data/(\d+)/model/([A-Za-z0-9._-]+)", "GET", self._model),
            (r"/jobs/train/keras/(\d+)", "POST", self._train),
            (r"/jobs/(\d+)/status", "GET", self._status),
            (r"/jobs/(\d+)/stdout", "GET", self._stdout),
            (r"/jobs/(\d+)/cancel", "POST", self._cancel),
            (r"/jobs", "GET", lambda now, q, b: self._list(now, {**q, "finished": "false"})),
            (r"/jobs/all", "GET", self._list),
        ]

    def _project_info(self, now: float, q: dict[str, str], b: Any) -> Answer:
        body = views.project_info_body(self._project(), FAKE_DATA, period_start=datetime(2026, 11, 1, tzinfo=UTC),
                                       used_ms=QUOTA_MS - self.quota_left_ms, quota_ms=QUOTA_MS, job_limit_m=60)
        # the devices its models report on-device figures for
        body["latencyDevices"] = [{**views.latency_devices()[0], "mcu": mcu, "name": name, "selected": default}
                                  for mcu, name, default, _ in self.devices]
        return 200, body, {}

    def _socket_token(self, now: float, q: dict[str, str], b: Any) -> Answer:
        if self.socket is None:
            return 404, GenericApiResponse(success=False, error="No socket here").wire(), {}
        return 200, {"success": True, "token": {"socketToken": SOCKET_TOKEN, "expires": _iso(now + 3600)}}, {}

    def _no_block(self, lid: int) -> Answer | None:
        if lid in self.imp.learn_ids():
            return None
        return 404, GenericApiResponse(success=False, error=f"Learn block {lid} not found").wire(), {}

    def _get_keras(self, now: float, q: dict[str, str], b: Any, lid: int) -> Answer:
        trained = bool(self._latest_done(lid, now))
        return self._no_block(lid) or (200, views.keras_body(self._project(), lid, self.configs[lid], trained,
                                                             inputs=FAKE_INPUTS), {})

    def _set_keras(self, now: float, q: dict[str, str], b: Any, lid: int) -> Answer:
        if err := self._no_block(lid):
            return err
        request = _request(b)
        if isinstance(request, tuple):
            return request
        self.configs[lid].update(request)
        self._save()
        return 200, GenericApiResponse(success=True).wire(), {}

    def _get_metadata(self, now: float, q: dict[str, str], b: Any, lid: int) -> Answer:
        if err := self._no_block(lid):
            return err
        meta = self._metadata(lid, now)
        if meta is None:
            return 200, GenericApiResponse(success=False, error="No trained model for this learn block").wire(), {}
        return 200, meta, {}

    def _train(self, now: float, q: dict[str, str], b: Any, lid: int) -> Answer:
        if err := self._no_block(lid):
            return err
        if self.train_errors:
            code = self.train_errors.pop(0)
            return code, GenericApiResponse(success=False, error=f"HTTP {code}").wire(), {}
        if any(j.kind == "train" and j.learn_id == lid and not j.done(now) for j in self.jobs.values()):
            return 400, GenericApiResponse(success=False, error=f"A training job is already running for "
                                                                f"learn block {lid}").wire(), {}
        request = _request(b)
        if isinstance(request, tuple):
            return request
        missing = [d for d in self.imp.dsp_of(lid) if not self._generated(d, now)]
        script = self._queue.pop(0) if self._queue else self.default_script
        if missing:  # accepted, then fails (as Studio does): the clone's features were never generated
            script = JobScript(duration_s=0.05, succeed=False, log_lines=[
                f"ERROR: features of DSP block {missing[0]} are not generated: run a generate-features job first"])
        script = JobScript(**{**asdict(script), "metrics": script.metrics,
                              "status_errors": list(script.status_errors)})
        job = FakeJob(id=self._next_id, learn_id=lid, request=request, created=now, script=script, seed=self._seed,
                      features={d: dict(self.dsp.generated.get(d, {}).get("window", {})) for d in self.imp.dsp_of(lid)},
                      features_job={d: int(self.dsp.generated[d]["job"]) for d in self.imp.dsp_of(lid)
                                    if d in self.dsp.generated})
        self._next_id += 1
        self.jobs[job.id] = job
        if script.profiling_delay_s > 0:
            lasts = JobScript(duration_s=script.duration_s + script.profiling_delay_s, log_lines=["Profiling done"])
            self.jobs[self._next_id] = FakeJob(id=self._next_id, learn_id=lid, request={}, created=now,
                                               script=lasts, kind="profile")
            self._next_id += 1
        self.configs[lid].update(request)
        self._save()
        if script.drop_post_answer:
            return 200, None, {}
        return 200, StartJobResponse(success=True, id=job.id).wire(), {}

    # ---- model files ----------------------------------------------------------------------------
    def _downloads(self, now: float, q: dict[str, str], b: Any) -> Answer:
        """Studio's list for an impulse: its trained learn blocks' models, and files that are not models."""
        impulse = self.imp.get(int(q["impulseId"]) if "impulseId" in q else None)
        if impulse is None:
            return 404, GenericApiResponse(success=False, error=f"Impulse {q.get('impulseId')} not found").wire(), {}
        prefix = f"/v1/api/{self.project_id}"
        entries: list[dict[str, Any]] = []
        for block in impulse["learnBlocks"]:
            lid = int(block["id"])
            if not self._latest_done(lid, now):
                continue
            for kind, download_id in self.download_ids.items():
                entries.append({"id": download_id, "name": f"ei-fake-{kind}-model.{lid}.lite",
                                "type": DOWNLOAD_TYPES[kind], "size": "1 KB", "impulseId": impulse["id"],
                                "link": f"{prefix}/learn-data/{lid}/model/{download_id}"})
            saved = "TensorFlow SavedModel"
            entries.append({"id": "tflite-savedmodel", "name": f"saved-model.{lid}.zip", "type": saved,
                            "link": f"{prefix}/learn-data/{lid}/model/tflite-savedmodel"})
        for dsp in impulse["dspBlocks"]:
            entries.append({"name": "X_training.npy", "type": "Training data (NPY)",
                            "link": f"{prefix}/dsp-data/{dsp['id']}/x/training"})
        return 200, {"success": True, "downloads": entries}, {}

    def _model(self, now: float, q: dict[str, str], b: Any, lid: int, download_id: str) -> Answer:
        if err := self._no_block(lid):
            return err
        if self.model_errors:
            code = self.model_errors.pop(0)
            return code, GenericApiResponse(success=False, error=f"HTTP {code}: model file unavailable").wire(), {}
        done = self._latest_done(lid, now)
        kinds = {v: k for k, v in self.download_ids.items()}
        if not done or download_id not in kinds:
            error = f"No model {download_id} for learn block {lid}"
            return 404, GenericApiResponse(success=False, error=error).wire(), {}
        if self.tflite is not None:
            return 200, self.tflite[kinds[download_id]], {}
        return 200, model_bytes(done[-1].id, lid, kinds[download_id]), {}

    # ---- impulses -------------------------------------------------------------------------------
    def _generated(self, dsp_id: int, now: float) -> bool:
        """Whether the block's features are current: generated (job done) from its present config and window."""
        got = self.dsp.generated.get(dsp_id)
        if got is None:
            return False
        job = self.jobs.get(int(got["job"]))
        done = got["job"] == 0 or (job is not None and job.done(now) and job.successful())
        return self.dsp.current(dsp_id, self._window_of(dsp_id), done)

    def _window_of(self, dsp_id: int) -> dict[str, Any]:
        """The input block feeding a DSP block, all of it but its identity: as on Studio, features depend on
        every setting of the input block (time-series window or image size)."""
        for impulse in self.imp.impulses.values():
            for block in impulse["dspBlocks"]:
                if int(block["id"]) == dsp_id:
                    inputs = {int(b["id"]): b for b in impulse["inputBlocks"]}
                    source = inputs.get(int(block.get("input") or 0), next(iter(inputs.values()), {}))
                    return {k: v for k, v in source.items() if k not in _IDENTITY}
        return {}

    def _update_impulse(self, now: float, q: dict[str, str], b: Any) -> Answer:
        iid = int(q.get("impulseId") or self.imp.default_id)
        current = self.imp.get(iid)
        if current is None:
            return 404, GenericApiResponse(success=False, error=f"Impulse {iid} not found").wire(), {}
        body = b or {}
        for key in ("inputBlocks", "dspBlocks", "learnBlocks"):
            ids = sorted(int(x["id"]) for x in body.get(key) or [])
            if ids != sorted(int(x["id"]) for x in current[key]):
                return 400, GenericApiResponse(success=False, error=f"{key}: blocks cannot change here").wire(), {}
        self.imp.impulses[iid] = {**current, **{k: body[k] for k in ("inputBlocks", "dspBlocks") if k in body}}
        self._save()
        return 200, {"success": True, "id": iid}, {}

    def _set_dsp(self, now: float, q: dict[str, str], b: Any, dsp_id: int) -> Answer:
        if dsp_id not in self.imp.dsp_ids():
            return 404, GenericApiResponse(success=False, error=f"DSP block {dsp_id} not found").wire(), {}
        if (why := self.dsp.set(dsp_id, dict((b or {}).get("config") or {}))) is not None:
            return 400, GenericApiResponse(success=False, error=why).wire(), {}
        self._save()
        return 200, GenericApiResponse(success=True).wire(), {}

    def _dsp_metadata(self, now: float, q: dict[str, str], b: Any, dsp_id: int) -> Answer:
        if dsp_id not in self.imp.dsp_ids():
            return 404, GenericApiResponse(success=False, error=f"DSP block {dsp_id} not found").wire(), {}
        got = self.dsp.generated.get(dsp_id)
        job = self.jobs.get(int(got["job"])) if got else None
        done = got is not None and (got["job"] == 0 or (job is not None and job.done(now) and job.successful()))
        return 200, self.dsp.metadata(dsp_id, done), {}

    def _dsp_performance(self, now: float, q: dict[str, str], b: Any, dsp_id: int) -> Answer:
        if dsp_id not in self.imp.dsp_ids():
            return 404, GenericApiResponse(success=False, error=f"DSP block {dsp_id} not found").wire(), {}
        return 200, {"success": True, "performance": self.dsp.performance(dsp_id, self.devices)}, {}

    def _dsp_data(self, now: float, q: dict[str, str], b: Any, dsp_id: int, part: str, category: str) -> Answer:
        """As the official client asks: ``application/octet-stream``, NumPy; 400 while the features are not there."""
        if dsp_id not in self.imp.dsp_ids():
            return 404, GenericApiResponse(success=False, error=f"DSP block {dsp_id} not found").wire(), {}
        if category not in ("training", "testing", "validation", "post-processing"):
            return 400, GenericApiResponse(success=False, error=f"Invalid category {category}").wire(), {}
        if not self._generated(dsp_id, now):
            return 400, GenericApiResponse(success=False, error="Features have not been generated").wire(), {}
        x, y = self.testing if category == "testing" else (self.testing[0][:0], self.testing[1][:0])
        self.dsp_downloads.append((dsp_id, f"{part}/{category}", dict(self.dsp.values.get(dsp_id) or {})))
        buffer = io.BytesIO()
        np.save(buffer, x if part == "x" else y, allow_pickle=False)
        return 200, buffer.getvalue(), {}

    def _get_impulse(self, now: float, q: dict[str, str], b: Any) -> Answer:
        impulse = self.imp.get(int(q["impulseId"]) if "impulseId" in q else None)
        if impulse is None:
            return 404, GenericApiResponse(success=False, error=f"Impulse {q.get('impulseId')} not found").wire(), {}
        return 200, {"success": True, "impulse": impulse}, {}

    def _clone(self, now: float, q: dict[str, str], b: Any, iid: int) -> Answer:
        if self.imp.get(iid) is None:
            return 404, GenericApiResponse(success=False, error=f"Impulse {iid} not found").wire(), {}
        if self.imp.max_impulses != -1 and len(self.imp.impulses) >= self.imp.max_impulses:
            return 400, GenericApiResponse(success=False, error="Impulse limit reached").wire(), {}
        new_id = self.imp.clone(iid, str((b or {}).get("name") or "clone"))
        source, clone = self.imp.get(iid), self.imp.get(new_id)
        assert source is not None and clone is not None
        for old, new in zip(source["learnBlocks"], clone["learnBlocks"], strict=True):
            self.configs[int(new["id"])] = dict(self.configs.get(int(old["id"]), {}))
        for old, new in zip(source["dspBlocks"], clone["dspBlocks"], strict=True):  # config copied, not features
            if int(old["id"]) in self.dsp.values:
                self.dsp.values[int(new["id"])] = dict(self.dsp.values[int(old["id"])])
        self._save()
        return 200, {"success": True, "id": new_id}, {}

    def _delete_impulse(self, now: float, q: dict[str, str], b: Any) -> Answer:
        iid = int(q.get("impulseId") or self.imp.default_id)
        if iid == self.imp.default_id:
            return 400, GenericApiResponse(success=False, error="Cannot delete the default impulse").wire(), {}
        if self.imp.get(iid) is None:
            return 404, GenericApiResponse(success=False, error=f"Impulse {iid} not found").wire(), {}
        self.imp.delete(iid)
        self._save()
        return 200, GenericApiResponse(success=True).wire(), {}

    def _generate_features(self, now: float, q: dict[str, str], b: Any) -> Answer:
        dsp_id = int((b or {}).get("dspId") or 0)
        if dsp_id not in self.imp.dsp_ids():
            return 404, GenericApiResponse(success=False, error=f"DSP block {dsp_id} not found").wire(), {}
        fails = self.dsp.fail_next.pop(0) if self.dsp.fail_next else None
        lines = ["Generating features", f"ERROR: {fails}"] if fails else ["Generating features", "Done"]
        job = FakeJob(id=self._next_id, learn_id=dsp_id, request={}, created=now, kind="features",
                      script=JobScript(duration_s=self.features_duration_s, succeed=fails is None, log_lines=lines))
        self.dsp.record(dsp_id, self._window_of(dsp_id), job.id)
        self._next_id += 1
        self.jobs[job.id] = job
        self._save()
        return 200, StartJobResponse(success=True, id=job.id).wire(), {}

    def _dsp(self, now: float, q: dict[str, str], b: Any, dsp_id: int) -> Answer:
        if dsp_id not in self.imp.dsp_ids():
            return 404, GenericApiResponse(success=False, error=f"DSP block {dsp_id} not found").wire(), {}
        generated = self._generated(dsp_id, now)
        return 200, {"success": True, "dsp": {"id": dsp_id, "name": "DSP", "type": "mfe", "windowLength": 1000,
                                              "classes": self.class_names, "expectedWindowCount": 1,
                                              "features": {"generated": generated, "count": 40 if generated else 0},
                                              "inputAxes": ["audio"], "canCalculateFeatureImportance": False,
                                              "calculateFeatureImportance": False, "canNormalizeData": False,
                                              "normalizeData": "none"}, "config": self.dsp.describe(dsp_id)}, {}

    def _job(self, jid: int) -> FakeJob | None:
        job = self.jobs.get(jid)
        return None if job is None or job.script.vanish else job

    def _missing(self, jid: int) -> Answer:
        return 404, GenericApiResponse(success=False, error=f"Job {jid} not found").wire(), {}

    def _status(self, now: float, q: dict[str, str], b: Any, jid: int) -> Answer:
        job = self._job(jid)
        if job is None:
            return self._missing(jid)
        if job.script.status_errors:
            code = job.script.status_errors.pop(0)
            self._save()
            return code, GenericApiResponse(success=False, error=f"HTTP {code}").wire(), (
                {"Retry-After": "0"} if code in (429, 503) else {})
        return 200, GetJobResponse(success=True, job=self._job_model(job, now)).wire(), {}

    def _stdout(self, now: float, q: dict[str, str], b: Any, jid: int) -> Answer:
        job = self._job(jid)
        if job is None:
            return self._missing(jid)
        lines = self._log(job, now)
        items = [JobLogItem(created=_iso(t), data=line + "\n") for t, line in reversed(lines)]
        limit = int(q.get("limit", 1000))
        return 200, LogStdoutResponse(success=True, stdout=items[:limit], total_count=len(items)).wire(), {}

    def _cancel(self, now: float, q: dict[str, str], b: Any, jid: int) -> Answer:
        job = self._job(jid)
        if job is None:
            return self._missing(jid)
        if not job.done(now):
            job.cancelled = now
            self._save()
        return 200, GenericApiResponse(success=True).wire(), {}

    def _list(self, now: float, q: dict[str, str], b: Any = None) -> Answer:
        jobs = sorted((j for j in self.jobs.values() if not j.script.vanish), key=lambda j: -j.created)
        if q.get("key"):
            jobs = [j for j in jobs if j.key == q["key"]]
        if q.get("finished") in ("true", "false"):
            want = q["finished"] == "true"
            jobs = [j for j in jobs if j.done(now) == want]
        if q.get("startDate"):
            since = datetime.fromisoformat(q["startDate"]).timestamp()
            jobs = [j for j in jobs if j.created >= since]
        limit = int(q.get("limit", 20))
        models = [self._job_model(j, now) for j in jobs[:limit]]
        return 200, ListJobsResponse(success=True, jobs=models, total_job_count=len(jobs)).wire(), {}


def held_out_windows(n_classes: int, n: int = 12, features: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Testing windows a model of :mod:`tflite_models` classifies by its first ``n_classes`` features: each window
    is the one-hot of its class, but every fourth is the one-hot of the next class (so 3 of 4 are right)."""
    labels = np.arange(n) % n_classes
    shown = np.where(np.arange(n) % 4 == 3, (labels + 1) % n_classes, labels)
    x = np.zeros((n, features), dtype=np.float32)
    x[np.arange(n), shown] = 1.0
    return x, np.stack([labels + 1, 500 + np.arange(n)], axis=1).astype(np.int64)


def _budget(params: int, scale: int, overhead: float) -> DeviceBudget:
    model = params * scale
    arena = int((2048 + params // 4 * scale) * overhead)
    return DeviceBudget(ram_required=arena + 1024, rom_required=int(model * overhead) + 20_000, arena_size=arena,
                        model_size=model)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (killed sweeps, dropped answers) are routine here, not tracebacks."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, OSError)):
            super().handle_error(request, client_address)


def _make_handler(studio: FakeStudio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def parse_request(self) -> bool:
            self._parse_started = time.perf_counter()  # parsing the headers is answering too (http.server's is slow)
            return super().parse_request()

        def _serve(self) -> None:
            """Answer one request; the time it takes, from parsing its headers on, is added to ``busy_s``
            (waiting for a request is not answering it)."""
            url = urlsplit(self.path)
            if url.path.startswith("/socket.io") and studio.socket is not None:
                serve_socket_io(self, studio.socket)  # a websocket lives as long as its connection: untimed
                return
            started = getattr(self, "_parse_started", time.perf_counter())
            try:
                self._answer(url)
            finally:
                with studio._lock:
                    studio.busy_s += time.perf_counter() - started

        def _answer(self, url: Any) -> None:
            if url.path == "/_fake/busy":  # for benchmarks: how long this server spent answering so far
                data = json.dumps({"busy_s": studio.busy_s, "requests": len(studio.requests)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = NOT_JSON
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            status, answer, headers = studio.handle(self.command, url.path, query, body,
                                                    self.headers.get("x-api-key"), self.headers.get("x-sweep-seed"))
            if answer is None:  # lost answer: the job exists, the client gets a closed connection
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            binary = isinstance(answer, bytes)
            data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream" if binary else "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler


@pytest.fixture
def fake_studio() -> Iterator[FakeStudio]:
    """A started FakeStudio (api key `test-key-fake-0123456789`, project 42, learn block 7)."""
    with FakeStudio() as studio:
        yield studio


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", type=Path)
    p.add_argument("--state-file", type=Path)
    p.add_argument("--job-duration", type=float, default=0.0)
    p.add_argument("--fail", action="store_true", help="jobs fail by default")
    p.add_argument("--api-key", default="test-key-fake-0123456789")
    p.add_argument("--project-id", type=int, default=42)
    p.add_argument("--learn-block", type=int, action="append")
    a = p.parse_args(argv)
    studio = FakeStudio(api_key=a.api_key, project_id=a.project_id, learn_block_ids=a.learn_block, port=a.port,
                        state_file=a.state_file, default_script=JobScript(duration_s=a.job_duration,
                                                                          succeed=not a.fail)).start()
    if a.port_file:
        tmp = a.port_file.with_suffix(".tmp")
        tmp.write_text(str(studio.port))
        tmp.replace(a.port_file)
    print(studio.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        studio.stop()


if __name__ == "__main__":
    main()
