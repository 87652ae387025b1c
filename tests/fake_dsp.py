"""The fake Studio's DSP blocks: an MFE block's parameters, their values, and which configuration each block's
features were generated from (state only; the fake Studio serves the routes).

Features are *current* for a block when its latest successful generate-features job recorded the block's
present configuration and its input block's present window; a train job on stale or missing features fails,
as on Studio. ``fail_next`` makes the next feature jobs fail with the given reasons.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["MFE_PARAMS", "FakeDsp"]

# (param, type, default, min, max, select options): the MFE block's as Studio describes them (a subset)
MFE_PARAMS: list[tuple[str, str, str, float | None, float | None, list[str] | None]] = [
    ("frame_length", "float", "0.02", 0.005, 0.5, None),
    ("frame_stride", "float", "0.01", 0.001, 0.5, None),
    ("num_filters", "int", "40", 2, 128, None),
    ("fft_length", "select", "256", None, None, ["64", "128", "256", "512", "1024"]),
    ("low_frequency", "int", "0", 0, None, None),
    ("high_frequency", "int", "0", 0, None, None),
    ("noise_floor_db", "int", "-52", -100, 0, None),
    ("win_size", "int", "101", 0, None, None),
]
_READONLY = ("implementation_version",)


class FakeDsp:
    def __init__(self) -> None:
        self.values: dict[int, dict[str, str]] = {}  # DSP block id -> the values set (defaults otherwise)
        self.generated: dict[int, dict[str, Any]] = {}  # DSP block id -> {"config", "window", "job"} of its features
        self.fail_next: list[str] = []

    def config(self, dsp_id: int) -> dict[str, str]:
        return {p: self.values.get(dsp_id, {}).get(p, default) for p, _, default, *_ in MFE_PARAMS}

    def describe(self, dsp_id: int) -> list[dict[str, Any]]:
        values = self.config(dsp_id)
        items = [{"name": p.replace("_", " ").capitalize(), "param": p, "type": kind, "value": values[p],
                  "defaultValue": default, "readonly": False, "shouldShow": True, "required": True,
                  "showClickToSet": False, **({"minVal": lo} if lo is not None else {}),
                  **({"maxVal": hi} if hi is not None else {}),
                  **({"selectOptions": [{"value": o, "optionLabel": o} for o in options]} if options else {})}
                 for p, kind, default, lo, hi, options in MFE_PARAMS]
        items.append({"name": "Implementation version", "param": "implementation_version", "type": "int",
                      "value": "4", "defaultValue": "4", "readonly": True, "shouldShow": True, "required": True,
                      "showClickToSet": False})
        return [{"group": "Mel-filterbank energy features", "items": items}]

    def set(self, dsp_id: int, config: dict[str, str]) -> str | None:
        """Merge ``config`` (strings); the reason it is refused, or None."""
        known = {p for p, *_ in MFE_PARAMS}
        for name, value in config.items():
            if name not in known:
                return f"Unknown parameter {name!r}" if name not in _READONLY else f"{name!r} is read-only"
            if not isinstance(value, str):
                return f"Values must be strings (got {value!r} for {name!r})"
        self.values.setdefault(dsp_id, {}).update(config)
        return None

    def record(self, dsp_id: int, window: dict[str, Any], job_id: int) -> None:
        """A feature job for the block (at its start: the configuration it computes from)."""
        self.generated[dsp_id] = {"config": self.config(dsp_id), "window": dict(window), "job": job_id}

    def current(self, dsp_id: int, window: dict[str, Any], job_done: bool) -> bool:
        got = self.generated.get(dsp_id)
        return job_done and got is not None and got["config"] == self.config(dsp_id) and got["window"] == window

    def width(self, dsp_id: int) -> int:
        got = self.generated.get(dsp_id)
        return int((got["config"] if got else self.config(dsp_id))["num_filters"])

    def metadata(self, dsp_id: int, generated: bool) -> dict[str, Any]:
        got = self.generated.get(dsp_id) or {"config": self.config(dsp_id), "window": {}}
        window = got["window"]
        frames = max(1, int(window.get("windowSizeMs", 1000) / (float(got["config"]["frame_stride"]) * 1000)))
        output: dict[str, Any] = {"type": "spectrogram", "shape": {"width": frames, "height": self.width(dsp_id)}}
        count = frames * self.width(dsp_id)
        if window.get("type") == "image":  # Studio's image block: the input resized (its window says no more)
            output = {"type": "image", "shape": {"width": window["imageWidth"], "height": window["imageHeight"],
                                                 "channels": 3}}
            count = window["imageWidth"] * window["imageHeight"] * 3
        return {"success": True, "created": "2026-12-01T00:00:00Z", "generated": generated,
                "dspConfig": dict(got["config"]), "labels": [], "windowCount": 1,
                "featureCount": count, "includedSamples": [],
                "windowSizeMs": int(window.get("windowSizeMs", 1000)),
                "windowIncreaseMs": int(window.get("windowIncreaseMs", 500)),
                "padZeros": bool(window.get("padZeros", True)), "frequency": 16000.0, "outputConfig": output}

    def performance(self, dsp_id: int, devices: list[tuple[str, str, bool, float]]) -> list[dict[str, Any]]:
        """Latency grows with the filters and the frames, RAM with the filters: enough to rank on."""
        config = self.config(dsp_id)
        frames = 1.0 / float(config["frame_stride"])
        filters = int(config["num_filters"])
        return [{"mcu": mcu, "latency": round((2 + filters * frames / 400) * scale), "ram": 2048 + 64 * filters}
                for mcu, _, _, scale in devices]

    def state(self) -> dict[str, Any]:
        return copy.deepcopy({"values": self.values, "generated": self.generated})

    def load(self, state: dict[str, Any]) -> None:
        self.values = {int(k): v for k, v in state.get("values", {}).items()}
        self.generated = {int(k): v for k, v in state.get("generated", {}).items()}
