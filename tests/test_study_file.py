"""Study files: every kind of mistake gives one exact message naming file, field and value."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sweep.errors import MISSING, StudyFileError, UsageError
from sweep.settings import Settings
from sweep.studio.metrics import is_metric
from sweep.study.load import load_study
from sweep.study.schema import Constraint, LocalTarget, StudioTarget
from sweep.study.space import Choices, FloatRange, IntRange

from study_cases import BAD, BASE, edit

FILES = Path(__file__).parent / "study_files"


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@pytest.mark.parametrize(("text", "field", "value", "message"), BAD)
def test_bad_study_file_names_file_field_and_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, field: str, value: object, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "study.toml"
    path.write_text(text)
    before = _snapshot(tmp_path)
    with pytest.raises(StudyFileError) as caught:
        load_study(path)
    err = caught.value
    assert str(err) == f"{path}: {message}"
    assert (err.file, err.field) == (str(path), field)
    assert err.value == value if value is not MISSING else err.value is MISSING
    assert isinstance(err, UsageError) and err.exit_code == 2
    assert _snapshot(tmp_path) == before  # loading writes nothing, even when it fails


def test_every_problem_is_listed_the_first_one_in_the_attributes(tmp_path: Path) -> None:
    path = tmp_path / "two.toml"
    path.write_text(edit(("trials = 20", "trials = 0"), ('direction = "maximize"', 'direction = "up"')))
    with pytest.raises(StudyFileError) as caught:
        load_study(path)
    assert (caught.value.field, caught.value.value) == ("trials", 0)
    assert str(caught.value) == (f"{path}: trials: must be greater than or equal to 1 (got 0)\n"
                                 "  also objectives[0].direction: must be 'maximize' or 'minimize' (got 'up')")


def test_the_api_key_never_appears_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "key.toml"
    path.write_text("apiKey = 'ei_0123secret'\ntrials = 'x'\n")
    with pytest.raises(StudyFileError) as caught:
        load_study(path)
    assert caught.value.field == "apiKey"
    assert "ei_0123secret" not in str(caught.value) and "ei_0123secret" not in repr(caught.value.value)


@pytest.mark.parametrize(("make", "reason"), [
    pytest.param(lambda d: d / "missing.toml", "no such study file", id="missing"),
    pytest.param(lambda d: d, "is a directory, not a study file", id="directory"),
])
def test_unreadable_files(tmp_path: Path, make, reason: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    with pytest.raises(StudyFileError) as caught:
        load_study(path)
    assert str(caught.value) == f"{path}: {reason}"
    assert caught.value.exit_code == 2
    assert not (tmp_path / "missing.toml").exists()


def test_complete_file_round_trips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = _snapshot(FILES)
    spec = load_study(FILES / "digits-dense.toml")
    assert _snapshot(FILES) == before and list(tmp_path.iterdir()) == []
    assert spec.name == "digits-dense" and spec.path == FILES / "digits-dense.toml"
    assert (spec.trials, spec.time_limit_s, spec.timeout_per_job_s) == (20, 1800.0, 3600.0)
    assert (spec.storage, spec.max_consecutive_failures, spec.device) == (None, 4, "cortex-m4f-80mhz")
    assert spec.target == LocalTarget(kind="local", project="digits", learn_blocks=[3, 4])
    assert (spec.sampler.name, spec.sampler.seed, spec.sampler.options) == ("tpe", 42, {"n_startup_trials": 5})
    assert [(o.metric, o.direction) for o in spec.objectives] == [
        ("int8.accuracy", "maximize"), ("cortex-m4f-80mhz.latency_ms", "minimize")]
    assert spec.directions == ["maximize", "minimize"]
    assert spec.constraints == [Constraint("cortex-m4f-80mhz.ram_bytes", "<=", 65536.0),
                                Constraint("int8.accuracy_drop", "<=", 0.02)]
    assert [str(c) for c in spec.constraints] == ["cortex-m4f-80mhz.ram_bytes <= 65536", "int8.accuracy_drop <= 0.02"]
    assert spec.constraints[0].value({"cortex-m4f-80mhz.ram_bytes": 70000.0}) == 70000.0 - 65536.0
    space = spec.space
    assert isinstance(space.learning_rate, FloatRange) and space.learning_rate.log
    assert isinstance(space.batch_size, Choices) and space.batch_size.choices == [16, 32, 64]
    assert isinstance(space.training_cycles, IntRange) and space.training_cycles.step == 10
    assert [layer.type for layer in space.layers or []] == ["dense", "dropout", "dense"]
    assert space.layers is not None and space.layers[2].neurons == 10
    assert spec.fixed == {"trainTestSplit": 0.2, "profileInt8": True, "selectedModelType": "int8"}


def test_studio_target_and_defaults(tmp_path: Path) -> None:
    spec = load_study(FILES / "keywords-studio.toml")
    assert spec.target == StudioTarget(kind="studio", project_id=12345, learn_blocks=[7, 8])
    assert spec.target.base_url is None  # the environment or the default decides
    assert (spec.time_limit_s, spec.timeout_per_job_s, spec.storage, spec.device) == (None, None, None, None)
    assert spec.max_consecutive_failures == 5 and spec.constraints == []
    assert spec.sampler.name == "grid" and spec.sampler.seed is None


@pytest.mark.parametrize(("written", "seconds"), [
    pytest.param("600", 600.0, id="int-seconds"), pytest.param('"90s"', 90.0, id="seconds"),
    pytest.param('"30m"', 1800.0, id="minutes"), pytest.param('"2h"', 7200.0, id="hours"),
    pytest.param('"1.5h"', 5400.0, id="fractional"),
])
def test_durations(tmp_path: Path, written: str, seconds: float) -> None:
    path = tmp_path / "d.toml"
    path.write_text(edit(('time_limit = "30m"', f"time_limit = {written}\ntimeout_per_job = {written}")))
    spec = load_study(path)
    assert spec.time_limit_s == seconds == spec.timeout_per_job_s


def test_unknown_camel_case_fixed_fields_pass_through(tmp_path: Path) -> None:
    path = tmp_path / "f.toml"
    path.write_text(edit(("trainTestSplit = 0.2", 'trainTestSplit = 0.2\ntrainingProcessor = "cpu"')))
    assert load_study(path).fixed == {"trainTestSplit": 0.2, "trainingProcessor": "cpu"}


def test_path_may_be_a_string_and_storage_urls_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('storage = "sqlite:///sweep.db"\n' + BASE)
    spec = load_study(str(path))
    assert spec.path == path and spec.storage == "sqlite:///sweep.db"
    assert os.listdir(tmp_path) == ["s.toml"]


@pytest.mark.parametrize("name", [
    "int8.accuracy", "float32.loss", "int8.f1.yes", "float32.recall.class_2", "int8.f1.macro_avg",
    "int8.cortex-m4f-80mhz.latency_ms", "cortex-m4f-80mhz.ram_bytes", "default.rom_bytes",
    "float32.default.arena_bytes", "int8.accuracy_drop", "compute_time_s", "wall_time_s", "akida.loss",
])
def test_metric_names_accepted(name: str) -> None:
    assert is_metric(name)


@pytest.mark.parametrize("name", [
    "accuracy", "int8.acuracy", "int16.accuracy", "int8.f1", "int8.f1.two words", "cortex.m4.ram_bytes",
    "cortex-m4f-80mhz.ram", "int8.accuracy ", "float32.accuracy_drop", "",
])
def test_metric_names_refused(name: str) -> None:
    assert not is_metric(name)


def test_the_documented_example_loads(tmp_path: Path) -> None:
    doc = (Path(__file__).parents[1] / "docs" / "study-file.md").read_text()
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.toml"
    path.write_text(example)
    spec = load_study(path)
    assert spec.storage == "sqlite:///digits.db" and len(spec.objectives) == 2
    assert spec.target.slot_count == 2
    assert not (tmp_path / "digits.db").exists()


@pytest.mark.parametrize("sampler", [
    pytest.param('name = "nsga2"\noptions = { population_size = 20 }', id="nsga2"),
    pytest.param('name = "qmc"\noptions = { qmc_type = "halton", scramble = true }', id="qmc"),
])
def test_documented_sampler_options_build(tmp_path: Path, sampler: str) -> None:
    path = tmp_path / "o.toml"
    path.write_text(edit(('name = "tpe"', sampler)))
    assert load_study(path).sampler.options


# ---- a target whose kind the file leaves out: Studio with EI_API_KEY, else the local studio ----

_BOTH = ('[target]\nkind = "local"\nproject = "digits"\n',
         '[target]\nproject = "keywords"\nproject_id = 777\nlearn_blocks = [5]\n')


def _settings(**env: str) -> Settings:
    return Settings(_env_file=None, **env)  # type: ignore[call-arg]


def test_no_target_and_no_key_is_the_local_digits_project(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(edit(('[target]\nkind = "local"\nproject = "digits"\n', "")))
    assert load_study(path, _settings()).target == LocalTarget(kind="local", project="digits")
    assert load_study(path).target == LocalTarget(kind="local", project="digits")


def test_no_kind_and_no_key_is_local_and_sets_the_studio_fields_aside(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(edit(_BOTH))
    spec = load_study(path, _settings())
    assert spec.target == LocalTarget(kind="local", project="keywords", learn_blocks=[5])
    assert spec.target.label == "local studio project 'keywords'"


def test_no_kind_with_a_key_is_studio(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(edit(_BOTH))
    spec = load_study(path, _settings(EI_API_KEY="ei_test_key"))
    assert spec.target == StudioTarget(kind="studio", project_id=777, learn_blocks=[5])
    assert spec.target.label == "Edge Impulse Studio project 777"


def test_an_explicit_local_kind_stays_local_with_a_key(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(BASE)
    spec = load_study(path, _settings(EI_API_KEY="ei_test_key"))
    assert spec.target == LocalTarget(kind="local", project="digits")


def test_studio_project_id_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(edit((_BOTH[0], '[target]\nlearn_blocks = [9]\n')))
    spec = load_study(path, _settings(EI_API_KEY="ei_test_key", EI_PROJECT_ID="4242"))
    assert spec.target == StudioTarget(kind="studio", project_id=4242, learn_blocks=[9])
    path.write_text(edit((_BOTH[0], '[target]\nkind = "studio"\nproject_id = 1\nlearn_blocks = [9]\n')))
    spec = load_study(path, _settings(EI_API_KEY="ei_test_key", EI_PROJECT_ID="4242"))
    assert spec.target == StudioTarget(kind="studio", project_id=1, learn_blocks=[9])  # the file wins


@pytest.mark.parametrize(("target", "field", "extra"), [
    pytest.param('[target]\nproject = "digits"\n', "target.project_id", "; or set EI_PROJECT_ID", id="no-project-id"),
    pytest.param("", "target.project_id", "; or set EI_PROJECT_ID", id="no-target-table"),
])
def test_no_kind_with_a_key_says_why_studio_fields_are_needed(
    tmp_path: Path, target: str, field: str, extra: str
) -> None:
    path = tmp_path / "s.toml"
    path.write_text(edit((_BOTH[0], target)))
    with pytest.raises(StudyFileError) as caught:
        load_study(path, _settings(EI_API_KEY="ei_secret_value"))
    assert str(caught.value) == (
        f"{path}: {field}: required for Edge Impulse Studio: target.kind is not given and EI_API_KEY is set, "
        f'so jobs go to Studio (write kind = "local" to use the embedded local studio){extra}')
    assert caught.value.exit_code == 2 and "ei_secret_value" not in str(caught.value)


# ---- [pruner] ----

_TWO_OBJECTIVES = ('[[objectives]]\nmetric = "int8.accuracy"\ndirection = "maximize"\n',
                   '[[objectives]]\nmetric = "int8.accuracy"\ndirection = "maximize"\n\n'
                   '[[objectives]]\nmetric = "default.ram_bytes"\ndirection = "minimize"\n')


@pytest.mark.parametrize(("pruner", "two", "field", "value", "reason"), [
    pytest.param('name = "asha"', False, "pruner.name", "asha",
                 "must be 'none', 'median', 'percentile', 'successive_halving', 'hyperband' or 'threshold'",
                 id="unknown-pruner"),
    pytest.param('name = "median"\ncurve = "f1"', False, "pruner.curve", "f1",
                 "must be 'val_accuracy', 'val_loss', 'accuracy' or 'loss'", id="unknown-curve"),
    pytest.param('name = "median"\noptions = { patience = 3 }', False, "pruner.options.patience", 3,
                 "unknown option of the median pruner (it takes: n_startup_trials, n_warmup_steps, interval_steps, "
                 "n_min_trials)", id="unknown-option"),
    pytest.param('name = "median"\noptions = { interval_steps = 2 }', True, "pruner.options.interval_steps", 2,
                 "unknown option of the median pruner (it takes: n_startup_trials, n_warmup_steps, n_min_trials)",
                 id="multi-objective-option"),
    pytest.param('name = "hyperband"', True, "pruner.name", "hyperband",
                 "several objectives are pruned by the median rule only (Optuna's pruners handle a single "
                 'objective): use name = "median"', id="hyperband-multi-objective"),
    pytest.param('options = { n_startup_trials = 3 }', False, "pruner.options", {"n_startup_trials": 3},
                 "options without a pruner: set pruner.name", id="options-without-pruner"),
    pytest.param('name = "percentile"\noptions = { percentile = 150.0 }', False, "pruner.options",
                 {"percentile": 150.0}, None, id="option-optuna-refuses"),
    pytest.param('name = "median"\ncheck_every = "soon"', False, "pruner.check_every", "soon",
                 "not a duration: use seconds (e.g. 600) or text like '90s', '30m', '2h'", id="bad-check-every"),
])
def test_bad_pruner(tmp_path: Path, pruner: str, two: bool, field: str, value: object, reason: str | None) -> None:
    path = tmp_path / "p.toml"
    text = BASE + f"\n[pruner]\n{pruner}\n"
    path.write_text(text.replace(*_TWO_OBJECTIVES, 1) if two else text)
    with pytest.raises(StudyFileError) as caught:
        load_study(path)
    err = caught.value
    assert (err.field, err.value) == (field, value)
    if reason is None:
        assert err.reason.startswith("the percentile pruner refused these options: ")
    else:
        assert str(err) == f"{path}: {field}: {reason} (got {value!r})"


def test_pruner_defaults_and_a_valid_table(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(BASE)
    assert load_study(path).pruner.name == "none"
    path.write_text(BASE + '\n[pruner]\nname = "successive_halving"\ncurve = "val_loss"\ncheck_every = "30s"\n'
                    'options = { min_resource = 2 }\n')
    pruner = load_study(path).pruner
    assert (pruner.name, pruner.curve, pruner.check_every, pruner.options) == (
        "successive_halving", "val_loss", 30.0, {"min_resource": 2})
