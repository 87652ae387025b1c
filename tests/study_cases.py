"""Bad study files shared by the loader tests and the CLI refusal tests: (text, field, value, message)."""

from __future__ import annotations

import pytest

from sweep.errors import MISSING

BASE = """\
name = "digits-dense"
trials = 20
time_limit = "30m"
constraints = ["cortex-m4f-80mhz.ram_bytes <= 65536"]

[target]
kind = "local"
project = "digits"

[sampler]
name = "tpe"
seed = 42

[[objectives]]
metric = "int8.accuracy"
direction = "maximize"

[space]
learning_rate = { low = 1e-4, high = 1e-2, log = true }
batch_size = { choices = [16, 32, 64] }

[space.augmentation_policy_spectrogram]
enabled = true
freq_masking = { choices = ["none", "low"] }

[[space.layers]]
type = "dense"
neurons = { low = 8, high = 64, step = 8 }

[[space.layers]]
type = "dropout"
dropout_rate = { low = 0.0, high = 0.5 }

[fixed]
trainTestSplit = 0.2
"""


def edit(*pairs: tuple[str, str]) -> str:
    text = BASE
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


BAD = [
    # (file text, field, value, message after "FILE: ")
    pytest.param("name = \"x\"\ntrials = = 3\n", "", MISSING,
                 "not valid TOML: Invalid value (at line 2, column 10)", id="not-toml"),
    pytest.param("colour = 1\n" + BASE, "colour", 1, "colour: unknown field (got 1)", id="unknown-top-field"),
    pytest.param(edit(('name = "digits-dense"', 'name = "digits dense"')), "name", "digits dense",
                 "name: use only letters, digits, '_', '.' and '-' (it is also the Optuna study name) "
                 "(got 'digits dense')", id="bad-name"),
    pytest.param(edit(("trials = 20", "trials = 0")), "trials", 0,
                 "trials: must be greater than or equal to 1 (got 0)", id="zero-trials"),
    pytest.param(edit(('time_limit = "30m"', 'time_limit = "30 minutes"')), "time_limit", "30 minutes",
                 "time_limit: not a duration: use seconds (e.g. 600) or text like '90s', '30m', '2h' "
                 "(got '30 minutes')", id="bad-duration"),
    pytest.param(edit(('project = "digits"', 'project = "digits"\napi_key = "ei_0123secret"')),
                 "target.api_key", MISSING,
                 "target.api_key: refused: the API key is read only from EI_API_KEY, never from a file",
                 id="api-key-in-file"),
    pytest.param(edit(('kind = "local"', 'kind = "cloud"')), "target.kind", "cloud",
                 "target.kind: must be one of 'local', 'studio' (got 'cloud')", id="unknown-target-kind"),
    pytest.param(edit(('project = "digits"', 'project = "digits"\nlearn_blocks = [3]\nslots = 2')),
                 "target.slots", 2,
                 "target.slots: learn_blocks trains on the blocks you name (their models are replaced); slots is "
                 "for cloned slots (your impulse untouched): give one or the other (got 2)",
                 id="slots-and-learn-blocks"),
    pytest.param(edit(('project = "digits"', 'project = "digits"\nslots = 0')), "target.slots", 0,
                 "target.slots: must be greater than or equal to 1 (got 0)", id="zero-slots"),
    pytest.param(edit(('project = "digits"', 'project = "digits"\nslots = 65')), "target.slots", 65,
                 "target.slots: must be less than or equal to 64 (got 65)", id="too-many-slots"),
    pytest.param(edit(('project = "digits"', 'project = "digits"\nimpulse_id = "main"')), "target.impulse_id",
                 "main", "target.impulse_id: must be a valid integer (got 'main')", id="impulse-id-not-a-number"),
    pytest.param(edit(('project = "digits"', 'project = "digits"\nlearn_blocks = [3, 3]')),
                 "target.learn_blocks", [3, 3], "target.learn_blocks: values must be unique (got [3, 3])",
                 id="duplicate-learn-blocks"),
    pytest.param(edit(('name = "tpe"', 'name = "hyperband"')), "sampler.name", "hyperband",
                 "sampler.name: must be 'tpe', 'random', 'grid', 'cmaes', 'gp', 'nsga2' or 'qmc' "
                 "(got 'hyperband')", id="unknown-sampler"),
    pytest.param(edit(("seed = 42", "seed = 42\noptions = { n_startup = 3 }")), "sampler.options.n_startup", 3,
                 "sampler.options.n_startup: unknown option of the tpe sampler (it takes: consider_prior, "
                 "prior_weight, consider_magic_clip, consider_endpoints, n_startup_trials, n_ei_candidates, "
                 "gamma, weights, multivariate, group, warn_independent_sampling, constant_liar) (got 3)",
                 id="unknown-sampler-option"),
    pytest.param(edit(('name = "tpe"\nseed = 42', 'name = "qmc"\nseed = 42\noptions = { qmc_type = "lattice" }')),
                 "sampler.options", {"qmc_type": "lattice"},
                 "sampler.options: the qmc sampler refused these options: The `qmc_type='lattice'` is invalid. "
                 "Choose either `halton` or `sobol`. (got {'qmc_type': 'lattice'})", id="bad-sampler-option-value"),
    pytest.param(edit(("seed = 42", "seed = 42\noptions = { seed = 1 }")), "sampler.options.seed", 1,
                 "sampler.options.seed: not an option here: use sampler.seed (got 1)", id="seed-in-options"),
    pytest.param(edit(('name = "tpe"', 'name = "grid"')), "space.learning_rate",
                 {"log": True, "low": 1e-4, "high": 1e-2},
                 "space.learning_rate: the grid sampler needs a finite set of values: give a step or choices "
                 "(got {'log': True, 'low': 0.0001, 'high': 0.01})", id="grid-with-continuous-param"),
    pytest.param(edit(('metric = "int8.accuracy"', 'metric = "int8.acuracy"')), "objectives[0].metric",
                 "int8.acuracy",
                 "objectives[0].metric: not a metric name: use e.g. int8.accuracy, float32.loss, int8.f1.<class>, "
                 "<device>.ram_bytes, int8.<device>.latency_ms, default.rom_bytes, int8.accuracy_drop, "
                 "compute_time_s or wall_time_s (got 'int8.acuracy')", id="bad-metric-name"),
    pytest.param(edit(('direction = "maximize"', 'direction = "max"')), "objectives[0].direction", "max",
                 "objectives[0].direction: must be 'maximize' or 'minimize' (got 'max')", id="bad-direction"),
    pytest.param(edit(('direction = "maximize"',
                        'direction = "maximize"\n[[objectives]]\nmetric = "int8.accuracy"\ndirection = "minimize"')),
                 "objectives[1].metric", "int8.accuracy",
                 "objectives[1].metric: repeats objectives[0].metric (got 'int8.accuracy')", id="duplicate-objective"),
    pytest.param("objectives = []\n" + edit(('[[objectives]]\nmetric = "int8.accuracy"\ndirection = "maximize"\n', "")),
                 "objectives", [],
                 "objectives: list should have at least 1 item after validation, not 0 (got [])",
                 id="empty-objectives"),
    pytest.param(edit(('[[objectives]]\nmetric = "int8.accuracy"\ndirection = "maximize"\n', "")), "objectives",
                 MISSING, "objectives: required field is missing", id="no-objectives"),
    pytest.param(edit(('"cortex-m4f-80mhz.ram_bytes <= 65536"', '"cortex-m4f-80mhz.ram_bytes < 65536"')),
                 "constraints[0]", "cortex-m4f-80mhz.ram_bytes < 65536",
                 "constraints[0]: not a constraint: write 'METRIC <= NUMBER' or 'METRIC >= NUMBER' "
                 "(got 'cortex-m4f-80mhz.ram_bytes < 65536')", id="bad-constraint-operator"),
    pytest.param(edit(('direction = "maximize"', 'direction = "maximize"\nconstraints = ["int8.loss <= 1"]')),
                 "objectives[0].constraints", ["int8.loss <= 1"],
                 "objectives[0].constraints: constraints apply to the whole study: write `constraints = [...]` "
                 "at the top of the file, before the first [table] (got ['int8.loss <= 1'])",
                 id="constraints-inside-objective"),
    pytest.param(edit(("low = 1e-4, high = 1e-2, log = true", "low = -1e-4, high = 1e-2")),
                 "space.learning_rate.low", -1e-4,
                 "space.learning_rate.low: must be greater than 0 (got -0.0001)", id="negative-learning-rate"),
    pytest.param(edit(("low = 1e-4, high = 1e-2, log = true", "low = 1e-4, high = 2.0")),
                 "space.learning_rate.high", 2.0,
                 "space.learning_rate.high: must be less than or equal to 1 (got 2.0)", id="learning-rate-above-1"),
    pytest.param(edit(("low = 0.0, high = 0.5 }", "low = 0.0, high = 0.5, log = true }")),
                 "space.layers[1].dropout_rate.low", 0.0,
                 "space.layers[1].dropout_rate.low: must be > 0 when log = true (got 0.0)", id="log-with-zero-low"),
    pytest.param(edit(("low = 8, high = 64, step = 8", "low = 64, high = 8")), "space.layers[0].neurons.high", 8,
                 "space.layers[0].neurons.high: must be >= low (64) (got 8)", id="high-below-low"),
    pytest.param(edit(("low = 8, high = 64, step = 8", "low = 8, high = 60, step = 8")),
                 "space.layers[0].neurons.high", 60,
                 "space.layers[0].neurons.high: high - low must be a multiple of step (8) (got 60)",
                 id="range-not-multiple-of-step"),
    pytest.param(edit(("low = 8, high = 64, step = 8", "low = 8, high = 64, step = 0")),
                 "space.layers[0].neurons.step", 0,
                 "space.layers[0].neurons.step: must be greater than or equal to 1 (got 0)", id="zero-step"),
    pytest.param(edit(("{ choices = [16, 32, 64] }", "{ choices = [16, 32.5] }")), "space.batch_size.choices[1]",
                 32.5, "space.batch_size.choices[1]: must be a valid integer (got 32.5)", id="float-batch-size"),
    pytest.param(edit(("{ choices = [16, 32, 64] }", "{ choices = [16, 16] }")), "space.batch_size.choices",
                 [16, 16], "space.batch_size.choices: choices must be unique (got [16, 16])", id="duplicate-choices"),
    pytest.param(edit(("{ choices = [16, 32, 64] }", "{ choices = [16], low = 3 }")), "space.batch_size.low", 3,
                 "space.batch_size.low: unknown field (got 3)", id="choices-and-range-mixed"),
    pytest.param(edit(('type = "dense"', 'type = "lstm"')), "space.layers[0].type", "lstm",
                 "space.layers[0].type: must be one of 'dense', 'conv1d', 'conv2d', 'dropout', 'reshape', "
                 "'flatten', 'batchNormalization' (got 'lstm')", id="unknown-layer-type"),
    pytest.param(edit(('type = "dropout"', 'type = "dropout"\nneurons = 3')), "space.layers[1].neurons", 3,
                 "space.layers[1].neurons: unknown field (got 3)", id="param-not-for-layer-type"),
    pytest.param(edit(('type = "dropout"\ndropout_rate = { low = 0.0, high = 0.5 }', 'type = "dropout"')),
                 "space.layers[1].dropout_rate", MISSING,
                 "space.layers[1].dropout_rate: required field is missing", id="layer-missing-param"),
    pytest.param(edit(('{ choices = ["none", "low"] }', '"medium"')),
                 "space.augmentation_policy_spectrogram.freq_masking", "medium",
                 "space.augmentation_policy_spectrogram.freq_masking: must be 'none', 'low' or 'high' "
                 "(got 'medium')", id="bad-masking-level"),
    pytest.param(edit(("enabled = true", "enabled = 1")), "space.augmentation_policy_spectrogram.enabled", 1,
                 "space.augmentation_policy_spectrogram.enabled: must be a valid boolean (got 1)",
                 id="int-for-bool"),
    pytest.param(edit(("trainTestSplit = 0.2", "train_test_split = 0.2")), "fixed.train_test_split", MISSING,
                 "fixed.train_test_split: use the wire name 'trainTestSplit' (camelCase, as on the wire)",
                 id="fixed-snake-case"),
    pytest.param(edit(("trainTestSplit = 0.2", "trainTestSplt = 0.2")), "fixed.trainTestSplt", MISSING,
                 "fixed.trainTestSplt: unknown field; did you mean 'trainTestSplit'?", id="fixed-typo"),
    pytest.param(edit(("trainTestSplit = 0.2", "batchSize = 8")), "fixed.batchSize", 8,
                 "fixed.batchSize: already set by [space]; a field is either tuned or fixed, not both (got 8)",
                 id="fixed-collides-with-space"),
    pytest.param(edit(("trainTestSplit = 0.2", "trainTestSplit = 1.5")), "fixed.trainTestSplit", 1.5,
                 "fixed.trainTestSplit: must be less than 1 (got 1.5)", id="fixed-out-of-range"),
    pytest.param(edit(("trainTestSplit = 0.2", 'profileInt8 = "yes"')), "fixed.profileInt8", "yes",
                 "fixed.profileInt8: must be a valid boolean (got 'yes')", id="fixed-wrong-type"),
    pytest.param(edit(("learning_rate = { low = 1e-4, high = 1e-2, log = true }", "learning_rate = 0.001"),
                       ("batch_size = { choices = [16, 32, 64] }", "batch_size = 32"),
                       ('{ choices = ["none", "low"] }', '"low"'),
                       ("neurons = { low = 8, high = 64, step = 8 }", "neurons = 8"),
                       ("dropout_rate = { low = 0.0, high = 0.5 }", "dropout_rate = 0.1")),
                 "space", MISSING, "space: no parameter to tune: give at least one range ({ low = ..., high = ... }) "
                 "or { choices = [...] }", id="nothing-to-tune"),
    pytest.param('storage = "mongodb://localhost/sweep"\n' + BASE, "storage", "mongodb://localhost/sweep",
                 "storage: unknown storage scheme 'mongodb': use journal:PATH, sqlite:///PATH or "
                 "postgresql+psycopg://USER@HOST/DB (got 'mongodb://localhost/sweep')", id="storage-unknown-scheme"),
    pytest.param('storage = "mysql://me:secret@db.example/sweep"\n' + BASE, "storage",
                 "mysql://me:***@db.example/sweep",
                 "storage: the database driver for 'mysql' is not installed (Python module 'MySQLdb'); for "
                 "PostgreSQL install the postgres extra (pip install -e '.[postgres]') and use postgresql+psycopg:// "
                 "(got 'mysql://me:***@db.example/sweep')", id="storage-driver-missing"),
    pytest.param('storage = "postgresql+psycopg://me@db:fivefour/sweep"\n' + BASE, "storage",
                 "postgresql+psycopg://me:***@db:fivefour/sweep",
                 "storage: not a valid database URL (ValueError: invalid literal for int() with base 10: 'fivefour'); "
                 "use journal:PATH, sqlite:///PATH or postgresql+psycopg://USER@HOST/DB "
                 "(got 'postgresql+psycopg://me:***@db:fivefour/sweep')", id="storage-malformed-port"),
    pytest.param('storage = "sqlite://"\n' + BASE, "storage", "sqlite://",
                 "storage: an in-memory SQLite database keeps nothing after the command ends: give a file, "
                 "sqlite:///PATH (got 'sqlite://')", id="storage-sqlite-in-memory"),
    pytest.param('storage = "journal:"\n' + BASE, "storage", "journal:",
                 "storage: journal: needs a file path, e.g. journal:.sweep/study.journal; use journal:PATH, "
                 "sqlite:///PATH or postgresql+psycopg://USER@HOST/DB (got 'journal:')", id="storage-journal-no-path"),
    pytest.param('storage = "digits.db"\n' + BASE, "storage", "digits.db",
                 "storage: not a storage URL: use journal:PATH, sqlite:///PATH or postgresql+psycopg://USER@HOST/DB "
                 "(got 'digits.db')", id="storage-bare-path"),
]


