"""The search space as data: distributions, train requests, config keys, samplers and grids."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import optuna
import pytest
from edgeimpulse_api.models.set_keras_parameter_request import (
    SetKerasParameterRequest as OfficialRequest,
)
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.storages import InMemoryStorage

from sweep.errors import StudyFileError
from sweep.studio.models import SetKerasParameterRequest
from sweep.study import sampler as sampler_module
from sweep.study.load import load_study
from sweep.study.request import config_key, train_request
from sweep.study.sampler import SAMPLERS, make_sampler
from sweep.study.space import distributions, grid, grid_size
from sweep.study.spec import StudySpec

FILES = Path(__file__).parent / "study_files"
optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def dense() -> StudySpec:
    return load_study(FILES / "digits-dense.toml")


@pytest.fixture(scope="module")
def conv() -> StudySpec:
    return load_study(FILES / "keywords-studio.toml")


def _spec(tmp_path: Path, text: str) -> StudySpec:
    path = tmp_path / "study.toml"
    path.write_text(text)
    return load_study(path)


SMALL = """\
name = "small"
trials = 4
[target]
kind = "local"
project = "digits"
[sampler]
name = "{sampler}"
seed = 7
{objectives}
[space]
learning_rate = {{ low = 0.001, high = 0.003, step = 0.001 }}
batch_size = {{ choices = [16, 32] }}
[[space.layers]]
type = "dense"
neurons = {{ low = 8, high = 16, step = 8 }}
"""
ONE = '[[objectives]]\nmetric = "int8.accuracy"\ndirection = "maximize"'
TWO = ONE + '\n[[objectives]]\nmetric = "default.latency_ms"\ndirection = "minimize"'


def test_distributions_are_the_tuned_values_only(dense: StudySpec) -> None:
    assert distributions(dense.space) == {
        "learning_rate": FloatDistribution(1e-4, 1e-2, log=True),
        "batch_size": CategoricalDistribution([16, 32, 64]),
        "training_cycles": IntDistribution(10, 40, step=10),
        "augmentation_policy_image": CategoricalDistribution(["none", "all"]),
        "spectrogram.enabled": CategoricalDistribution([True, False]),
        "spectrogram.freq_masking": CategoricalDistribution(["none", "low", "high"]),
        "layers.0.neurons": IntDistribution(8, 64, step=8),
        "layers.0.repeat": IntDistribution(1, 3),
        "layers.1.dropout_rate": FloatDistribution(0.0, 0.5),
    }  # warping = true and the last layer's neurons = 10 are constants, not params


def test_conv_distributions(conv: StudySpec) -> None:
    assert distributions(conv.space) == {
        "batch_size": IntDistribution(32, 64, step=32),
        "layers.1.neurons": CategoricalDistribution([8, 16, 32]),
        "layers.1.stack": IntDistribution(1, 2),
    }


PARAMS = {
    "learning_rate": 0.00123, "batch_size": 32, "training_cycles": 20, "augmentation_policy_image": "all",
    "spectrogram.enabled": True, "spectrogram.freq_masking": "low", "layers.0.neurons": 24,
    "layers.0.repeat": 2, "layers.1.dropout_rate": 0.25,
}


def test_train_request_is_the_exact_body(dense: StudySpec) -> None:
    body = train_request(dense, PARAMS).wire()
    assert body == {
        "mode": "visual",
        "visualLayers": [
            {"type": "dense", "neurons": 24},
            {"type": "dense", "neurons": 24},
            {"type": "dropout", "dropoutRate": 0.25},
            {"type": "dense", "neurons": 10},
        ],
        "trainingCycles": 20,
        "learningRate": 0.00123,
        "batchSize": 32,
        "trainTestSplit": 0.2,
        "augmentationPolicyImage": "all",
        "augmentationPolicySpectrogram": {"enabled": True, "warping": True, "freqMasking": "low"},
        "profileInt8": True,
        "selectedModelType": "int8",
    }
    official = OfficialRequest.parse_obj(body)  # validating parse (StrictInt, enums) by the official client
    assert {k: v for k, v in official.to_dict().items() if v is not None} == body
    parsed = OfficialRequest.from_dict(json.loads(json.dumps(body)))
    assert [layer.neurons for layer in parsed.visual_layers] == [24, 24, None, 10]
    assert parsed.augmentation_policy_spectrogram.freq_masking == "low"


def test_train_request_conv_with_constants(conv: StudySpec) -> None:
    body = train_request(conv, {"batch_size": 64, "layers.1.neurons": 16, "layers.1.stack": 2}).wire()
    assert body == {
        "mode": "visual",
        "visualLayers": [{"type": "reshape", "columns": 13},
                         {"type": "conv1d", "neurons": 16, "kernelSize": 3, "stack": 2},
                         {"type": "flatten"}],
        "trainingCycles": 30, "learningRate": 0.005, "batchSize": 64, "autoClassWeights": True,
    }
    assert {k: v for k, v in OfficialRequest.parse_obj(body).to_dict().items() if v is not None} == body


@pytest.mark.parametrize(("repeat", "expected"), [
    pytest.param(0, ["dropout", "dense"], id="zero-removes-the-layer"),
    pytest.param(1, ["dense", "dropout", "dense"], id="once"),
    pytest.param(3, ["dense", "dense", "dense", "dropout", "dense"], id="three-times"),
])
def test_repeat_expands_the_layer_in_place(dense: StudySpec, repeat: int, expected: list[str]) -> None:
    body = train_request(dense, {**PARAMS, "layers.0.repeat": repeat}).wire()
    assert [layer["type"] for layer in body["visualLayers"]] == expected


def test_train_request_is_deterministic_and_ints_stay_ints(dense: StudySpec) -> None:
    first = train_request(dense, PARAMS).wire()
    again = train_request(dense, dict(reversed(list(PARAMS.items())))).wire()
    assert json.dumps(first) == json.dumps(again)
    floaty = train_request(dense, {**PARAMS, "batch_size": 32.0, "training_cycles": 20.0}).wire()
    assert type(floaty["batchSize"]) is int and type(floaty["trainingCycles"]) is int


def test_train_request_missing_param_names_the_field(dense: StudySpec) -> None:
    params = {k: v for k, v in PARAMS.items() if k != "layers.1.dropout_rate"}
    with pytest.raises(StudyFileError) as caught:
        train_request(dense, params)
    assert caught.value.field == "space.layers[1].dropout_rate"


def test_config_key_is_canonical(dense: StudySpec) -> None:
    request = train_request(dense, PARAMS)
    key = config_key(request)
    body = request.wire()
    assert key == config_key(body) == config_key(dict(reversed(list(body.items()))))
    assert key == config_key(json.loads(json.dumps(body)))  # as read back from storage
    assert key == config_key({**body, "batchSize": 32.0})
    assert len(key) == 64 and key == config_key(SetKerasParameterRequest.model_validate(body))
    assert key != config_key(train_request(dense, {**PARAMS, "learning_rate": 0.00124}))
    assert key != config_key(train_request(dense, {**PARAMS, "layers.0.repeat": 3}))
    assert key != config_key({**body, "trainTestSplit": 0.25})


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("objectives", [pytest.param(ONE, id="single"), pytest.param(TWO, id="multi")])
def test_every_sampler_builds_and_asks(tmp_path: Path, name: str, objectives: str) -> None:
    text = SMALL.format(sampler=name, objectives=objectives)
    multi = objectives == TWO
    if name == "cmaes" and multi:
        with pytest.raises(StudyFileError) as caught:
            _spec(tmp_path, text)
        assert (caught.value.field, caught.value.value) == ("sampler.name", "cmaes")
        return
    spec = _spec(tmp_path, text)
    sampler = make_sampler(spec.sampler, spec)
    assert isinstance(sampler, SAMPLERS[name])
    study = optuna.create_study(storage=InMemoryStorage(), sampler=sampler,
                                directions=["maximize", "minimize"] if multi else ["maximize"])
    space = distributions(spec.space)
    for i in range(3):
        trial = study.ask(space)
        assert set(trial.params) == set(space)
        assert all(space[k]._contains(space[k].to_internal_repr(v)) for k, v in trial.params.items())
        train_request(spec, trial.params)
        study.tell(trial, [float(i), 1.0] if multi else float(i))
    assert len(study.get_trials()) == 3


@pytest.mark.parametrize(("sampler", "package", "hint"), [
    ("cmaes", "cmaes", ""), ("gp", "torch", " (install the gp extra: pip install -e '.[gp]')"),
    ("gp", "scipy", " (install the gp extra: pip install -e '.[gp]')"),
    ("qmc", "scipy", " (install the qmc extra: pip install -e '.[qmc]')")])
def test_missing_optional_package_is_refused_up_front(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sampler: str, package: str, hint: str
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(sampler_module.importlib.util, "find_spec",
                        lambda name, *a: None if name == package else real(name, *a))
    with pytest.raises(StudyFileError) as caught:
        _spec(tmp_path, SMALL.format(sampler=sampler, objectives=ONE))
    assert str(caught.value).endswith(
        f"sampler.name: the {sampler} sampler needs the Python package {package}, which is not installed{hint} "
        f"(got '{sampler}')")


@pytest.mark.parametrize(("sampler", "blocked"), [("qmc", "scipy"), ("gp", "scipy"), ("gp", "torch")])
def test_a_sampler_whose_package_cannot_be_imported_stops_the_cli_at_load(
        tmp_path: Path, sampler: str, blocked: str) -> None:
    """For real, in a fresh interpreter where the package cannot be imported: exit 2, nothing written."""
    import subprocess
    import sys

    path = tmp_path / "study.toml"
    path.write_text(SMALL.format(sampler=sampler, objectives=ONE))
    code = (f"import sys; sys.modules[{blocked!r}] = None; from sweep.cli import main; "
            f"sys.exit(main(['run', {str(path)!r}]))")
    before = sorted(tmp_path.rglob("*"))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert f"sampler.name: the {sampler} sampler needs the Python package {blocked}, which is not installed" \
        in proc.stderr
    assert sorted(tmp_path.rglob("*")) == before


def test_seeded_samplers_repeat_and_resumed_runs_move_on(tmp_path: Path) -> None:
    spec = _spec(tmp_path, SMALL.format(sampler="random", objectives=ONE).replace("step = 0.001", "step = 0.0001"))

    def first_params(**kw: int) -> list[dict]:  # type: ignore[type-arg]
        study = optuna.create_study(sampler=make_sampler(spec.sampler, spec, **kw))
        return [study.ask(distributions(spec.space)).params for _ in range(4)]

    assert first_params() == first_params()
    assert first_params(n_existing_trials=4) != first_params()


def test_grid_lists_every_value(dense: StudySpec, conv: StudySpec, tmp_path: Path) -> None:
    assert grid(conv.space, str(conv.path)) == {"batch_size": [32, 64], "layers.1.neurons": [8, 16, 32],
                                                "layers.1.stack": [1, 2]}
    assert grid_size(conv.space, str(conv.path)) == 12
    spec = _spec(tmp_path, SMALL.format(sampler="grid", objectives=ONE).replace(
        "{ low = 0.001, high = 0.003, step = 0.001 }", "{ low = 0.1, high = 0.7, step = 0.3 }"))
    assert grid(spec.space, str(spec.path))["learning_rate"] == [0.1, 0.4, 0.7]
    with pytest.raises(StudyFileError) as caught:
        grid(dense.space, str(dense.path))
    assert caught.value.field == "space.learning_rate"


def test_grid_sampler_visits_every_point_once_with_ask_and_tell(conv: StudySpec) -> None:
    sampler = make_sampler(conv.sampler, conv)
    study = optuna.create_study(sampler=sampler, direction="maximize")
    seen = set()
    for i in range(grid_size(conv.space, str(conv.path))):
        trial = study.ask(distributions(conv.space))
        seen.add(config_key(train_request(conv, trial.params)))
        study.tell(trial, float(i))  # optuna's own GridSampler raises here (study.stop outside optimize)
    assert len(seen) == 12
    assert sampler.is_exhausted(study)


def test_grid_too_large_is_refused(tmp_path: Path) -> None:
    text = SMALL.format(sampler="grid", objectives=ONE).replace(
        'neurons = { low = 8, high = 16, step = 8 }', 'neurons = { low = 1, high = 100000 }')
    with pytest.raises(StudyFileError) as caught:
        _spec(tmp_path, text)
    assert (caught.value.field, caught.value.value) == ("sampler.name", "grid")
