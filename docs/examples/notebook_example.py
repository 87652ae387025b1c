"""A notebook's cells as one script: a tiny digits sweep on the embedded local studio, driven from Python.

Runs as is, from any folder: ``python docs/examples/notebook_example.py`` (about half a minute on 2 cores:
2 trials of 4 epochs, real Keras training, no account needed). The study lives in a temporary folder; the
local studio's data dir is the usual one (``SWEEP_DATA_DIR``, default ``.sweep/studio`` in the working
directory). Each ``# %%`` is a cell; in Jupyter, paste them one by one. See docs/python-api.md.
"""

# %% A study built from Python: the shipped digits study, made small
import tempfile
import tomllib
from pathlib import Path

import sweep

repo = Path(__file__).resolve().parents[2]
data = tomllib.loads((repo / "studies" / "digits.toml").read_text(encoding="utf-8"))
data |= {"name": "digits-notebook", "trials": 2, "baseline": False}
data.pop("time_limit", None)
data["space"]["training_cycles"] = 4  # a fixed value instead of a range: a few epochs each
work = Path(tempfile.mkdtemp(prefix="sweep-notebook-"))
study = sweep.study_from_dict(data, path=work / "digits-notebook.toml")  # its journal goes beside that path
print(f"study {study.name!r}: {study.trials} trials of {[o.metric for o in study.objectives]}")

# %% Run it; every event arrives as a dict (the same as `sweep run --log-format json` writes)
events: list[dict] = []
result = sweep.run_study(study, report=False, quiet=True, events=events.append)
print(f"exit code {result.exit_code}: {result.outcome}")
finished = [e for e in events if e["event"] == "trial_finished"]
for e in finished:
    print(f"  trial {e['trial']}: {e['state']} values {e['values']} in {e['wall_s']:.1f} s")

# %% The trials as a DataFrame (the report's trials.csv)
frame = sweep.trials(study)
print(frame[["number", "state", "int8.accuracy", "cortex-m4f-80mhz.latency_ms", "params_learning_rate"]].to_string())

# %% The best trial(s) and the report
for best in sweep.best(study):
    print(f"best: trial {best['trial']} {best['objectives']} (learning rate {best['request']['learningRate']:.4g})")
page = sweep.write_report(study, work / "report")
print(f"report: {page}")

assert result.exit_code == 0 and len(frame) == 2 and len(finished) == 2, "the example did not run as expected"
