"""The local studio's descriptive answers say what its projects hold, read through the OFFICIAL edgeimpulse_api
client from the real server: how many samples and how long (project info's data summary), how many windows a
learn block trains on and of how many features (``dependencies``), and when features were made."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import edgeimpulse_api as ei
import numpy as np
import pytest

from sweep.local import datasets, featureimport, rawdata
from sweep.local.embedded import EmbeddedStudio

from local_fixtures import official_client, start_studio, wait_for

DIGITS, KEYWORDS, RAW = datasets.DIGITS_ID, datasets.KEYWORDS_ID, datasets.KEYWORDS_RAW_ID


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStudio]:
    data_dir = tmp_path_factory.mktemp("local-answers")
    rng = np.random.default_rng(3)
    np.save(data_dir / "x.npy", rng.normal(size=(45, 12)).astype(np.float32))
    np.save(data_dir / "y.npy", np.arange(45) % 3 + 1)
    featureimport.import_features(data_dir, "flat", data_dir / "x.npy", data_dir / "y.npy", ["a", "b", "c"], None)
    with start_studio(data_dir) as server:
        yield server


@pytest.fixture(scope="module")
def api(studio: EmbeddedStudio) -> Iterator[Any]:
    client = official_client(studio)
    try:
        yield client
    finally:
        client.close()


def _project(studio: EmbeddedStudio, project_id: int) -> datasets.LocalProject:
    return datasets.get_project(studio.data_dir, project_id)


def _dt(value: Any) -> datetime:
    """The official models keep some timestamps as ISO strings."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _samples(project: datasets.LocalProject) -> tuple[int, float]:
    """(samples, total length in ms) read from the project's files, not through the server."""
    if project.kind == "raw":
        lengths = np.load(project.path / rawdata.LENGTHS_FILE)
        return len(lengths), float(lengths.sum()) * 1000.0 / float(project.frequency_hz or 1)
    return len(np.load(project.path / "X.npy", mmap_mode="r")), 0.0


def test_project_info_counts_the_projects_samples_and_their_length(studio: EmbeddedStudio, api: Any) -> None:
    flat = datasets.find_project(studio.data_dir, "flat").id
    for project_id in (DIGITS, KEYWORDS, RAW, flat):
        count, length_ms = _samples(_project(studio, project_id))
        info = ei.ProjectsApi(api).get_project_info(project_id)  # parses with the official models
        for summary in (info.data_summary, info.data_summary_per_category.training):
            assert (summary.data_count, summary.total_length_ms) == (count, pytest.approx(length_ms)), project_id
        assert count > 0
    raw = ei.ProjectsApi(api).get_project_info(RAW).data_summary
    assert raw.total_length_ms == pytest.approx(600 * 1000.0)  # 600 words of 1 s: a raw project has a length


def _keras(api: Any, project_id: int) -> Any:
    learn_id = ei.ImpulseApi(api).get_impulse(project_id).impulse.learn_blocks[0].id
    return ei.LearnApi(api).get_keras(project_id, learn_id).dependencies


def test_a_learn_blocks_dependencies_count_what_it_trains_on(studio: EmbeddedStudio, api: Any) -> None:
    digits = _keras(api, DIGITS)
    assert (digits.sample_count, digits.feature_count) == (1797, 64) and digits.block_names == ["Image"]
    impulse = ei.ImpulseApi(api).get_impulse(RAW).impulse
    dsp = impulse.dsp_blocks[0]
    job = ei.JobsApi(api).generate_features_job(RAW, ei.GenerateFeaturesRequest(dsp_id=dsp.id)).id
    wait_for(lambda: ei.JobsApi(api).get_job_status(RAW, job).job.finished, 90, f"features job {job}")
    metadata = ei.DSPApi(api).get_dsp_metadata(RAW, dsp.id)
    raw = _keras(api, RAW)
    assert raw.sample_count == metadata.window_count > 0  # its windows, not 0
    assert raw.feature_count == metadata.feature_count != math.prod(_project(studio, RAW).input_shape)  # MFE's
    assert raw.block_names == [dsp.name]


def test_shipped_and_imported_features_were_made_when_they_were_stored(studio: EmbeddedStudio, api: Any) -> None:
    flat = datasets.find_project(studio.data_dir, "flat")
    for project_id in (DIGITS, flat.id):
        dsp = ei.ImpulseApi(api).get_impulse(project_id).impulse.dsp_blocks[0]
        metadata = ei.DSPApi(api).get_dsp_metadata(project_id, dsp.id)
        stored = datetime.fromtimestamp((_project(studio, project_id).path / "X.npy").stat().st_mtime, UTC)
        created = _dt(metadata.created)
        assert metadata.generated and abs(created - stored) < timedelta(seconds=1), (project_id, created)
        assert datetime.now(UTC) - created < timedelta(hours=1)  # made by this test, not in 1970
        made = _dt(ei.ProjectsApi(api).get_project_info(project_id).project.created)
        assert abs(made - stored) < timedelta(seconds=1), (project_id, made)


def test_docs_say_raw_projects_train() -> None:
    text = (Path(__file__).parents[1] / "docs" / "local-studio.md").read_text(encoding="utf-8")
    raw = text[text.index("## Raw projects"):]
    for stale in ("a train job on it fails", "once raw projects can be trained", "created only when asked"):
        assert stale not in " ".join(raw.split()), stale
