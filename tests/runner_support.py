"""Helpers for runner tests: study files aimed at a FakeStudio, and running `sweep` for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna

from sweep.session.storage import open_storage

BASE_SPACE = """
[space]
learning_rate = { low = 1e-4, high = 1e-1, log = true }
batch_size = { choices = [16, 32, 64] }
training_cycles = { low = 5, high = 30, step = 5 }

[[space.layers]]
type = "dense"
neurons = { low = 8, high = 64, step = 8 }
repeat = { low = 1, high = 2 }

[[space.layers]]
type = "dropout"
dropout_rate = { low = 0.0, high = 0.5 }
"""


def write_study(
    folder: Path,
    base_url: str,
    *,
    name: str = "fake",
    trials: int = 4,
    project_id: int | None = 42,
    kind: str | None = "studio",
    learn_blocks: tuple[int, ...] = (7,),
    objectives: tuple[tuple[str, str], ...] = (("int8.accuracy", "maximize"),),
    constraints: tuple[str, ...] = (),
    extra_top: str = "",
    space: str = BASE_SPACE,
    seed: int = 1,
    sampler: str = "tpe",
    sampler_options: str = "",
    slots: int | None = None,
    baseline: bool = False,
) -> Path:
    top = [f'name = "{name}"', f"trials = {trials}", "max_consecutive_failures = 3",
           f"baseline = {str(baseline).lower()}", extra_top]
    if constraints:
        top.append("constraints = [" + ", ".join(f'"{c}"' for c in constraints) + "]")
    body = "\n".join(top) + f"""

[target]
{f'kind = "{kind}"' if kind else ""}
{f"project_id = {project_id}" if project_id is not None else ""}
{f"slots = {slots}" if slots is not None else f"learn_blocks = [{', '.join(map(str, learn_blocks))}]"}
base_url = "{base_url}"

[sampler]
name = "{sampler}"
seed = {seed}
{f"options = {{ {sampler_options} }}" if sampler_options else ""}
"""
    for metric, direction in objectives:
        body += f'\n[[objectives]]\nmetric = "{metric}"\ndirection = "{direction}"\n'
    body += space
    path = folder / f"{name}.toml"
    path.write_text(body)
    return path


def journal(folder: Path, name: str = "fake") -> str:
    return f"journal:{folder / '.sweep' / (name + '.journal')}"


def load(folder: Path, name: str = "fake") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(journal(folder, name)))


def sweep_env(api_key: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EI_", "SWEEP_"))}
    env.update({"EI_API_KEY": api_key, "SWEEP_POLL_INITIAL_S": "0.05", "SWEEP_POLL_MAX_S": "0.2",
                "SWEEP_REPORTS_DIR": extra.pop("reports", "reports")})
    env.update(extra)
    return env


def sweep_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "sweep.cli", *args]


def run_sweep(*args: str, env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(sweep_cmd(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
