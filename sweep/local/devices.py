"""On-device performance ESTIMATES for the local studio: every constant and formula in one place.

These are estimates from model arithmetic, not measurements (docs/device-estimates.md):
  modelSize  = the real .tflite flatbuffer bytes
  arenaSize  = peak sum of live activation tensor bytes over the op order (16-byte aligned)
  ramRequired = arenaSize + device RAM overhead (TFLite Micro interpreter / EON)
  romRequired = modelSize + device runtime ROM (TFLite Micro kernels / EON compiled code)
  latency ms = (MACs x cycles-per-MAC[model type] + per-inference overhead cycles) / clock x 1000
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sweep.studio.models import DeviceBudget, OnDevicePerformance

__all__ = ["DEFAULT_DEVICE", "DEVICES", "Device", "TensorLife", "estimate", "get_device", "on_device_performance",
           "peak_live_bytes"]

ALIGN = 16
OVERHEAD_CYCLES = 20_000  # per inference: interpreter dispatch, quantize/dequantize of input and output


@dataclass(frozen=True)
class Device:
    mcu: str
    name: str
    clock_hz: float
    cycles_per_mac_int8: float
    cycles_per_mac_float32: float
    rom_tflite: int  # runtime ROM with TFLite Micro (bytes)
    rom_eon: int  # runtime ROM with the EON compiler (bytes)
    ram_tflite: int  # interpreter RAM overhead beside the arena (bytes)
    ram_eon: int


DEVICES: tuple[Device, ...] = (
    Device("cortex-m0plus-48mhz", "Cortex-M0+ 48MHz", 48e6, 6.0, 60.0, 64_000, 24_000, 4_096, 1_024),
    Device("cortex-m4f-80mhz", "Cortex-M4F 80MHz", 80e6, 1.5, 6.0, 52_000, 18_000, 4_096, 1_024),
    Device("cortex-m7-216mhz", "Cortex-M7 216MHz", 216e6, 0.8, 2.0, 56_000, 20_000, 4_096, 1_024),
    Device("esp32-240mhz", "Espressif ESP-EYE (ESP32 240MHz)", 240e6, 3.0, 8.0, 80_000, 32_000, 8_192, 2_048),
    Device("raspberry-pi-4", "Raspberry Pi 4 (Cortex-A72 1.5GHz)", 1.5e9, 0.25, 0.5, 1_500_000, 1_500_000,
           2_000_000, 2_000_000),
)
DEFAULT_DEVICE = "cortex-m4f-80mhz"


@dataclass(frozen=True)
class TensorLife:
    """A non-constant tensor: its bytes and the first and last op index that touch it."""

    nbytes: int
    first: int
    last: int


def get_device(mcu: str) -> Device:
    for d in DEVICES:
        if d.mcu == mcu:
            return d
    raise KeyError(mcu)


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def peak_live_bytes(tensors: Iterable[TensorLife]) -> int:
    """Arena estimate: the largest total of aligned tensor bytes alive at any op index."""
    lives = list(tensors)
    if not lives:
        return 0
    last_op = max(t.last for t in lives)
    return max(sum(_aligned(t.nbytes) for t in lives if t.first <= op <= t.last) for op in range(last_op + 1))


def estimate(device: Device, model_type: str, *, model_bytes: int, macs: int, arena_bytes: int,
             is_default: bool) -> OnDevicePerformance:
    """One device's figures for a model; model_type 'int8' or 'float32' picks the cycles per MAC."""
    cpm = device.cycles_per_mac_int8 if model_type == "int8" else device.cycles_per_mac_float32
    latency_ms = (macs * cpm + OVERHEAD_CYCLES) / device.clock_hz * 1000.0
    return OnDevicePerformance(
        mcu=device.mcu, name=device.name, is_default=is_default, latency=round(latency_ms, 3),
        tflite=DeviceBudget(ram_required=arena_bytes + device.ram_tflite, rom_required=model_bytes + device.rom_tflite,
                            arena_size=arena_bytes, model_size=model_bytes),
        eon=DeviceBudget(ram_required=arena_bytes + device.ram_eon, rom_required=model_bytes + device.rom_eon,
                         arena_size=arena_bytes, model_size=model_bytes),
        has_performance=True,
    )


def on_device_performance(model_type: str, *, model_bytes: int, macs: int, arena_bytes: int,
                          default: str = DEFAULT_DEVICE) -> list[OnDevicePerformance]:
    """Figures for every known device; ``default`` is marked isDefault."""
    return [estimate(d, model_type, model_bytes=model_bytes, macs=macs, arena_bytes=arena_bytes,
                     is_default=d.mcu == default) for d in DEVICES]
