"""devices.py: the estimate arithmetic, checked by hand without Keras."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sweep.local import devices
from sweep.local.devices import TensorLife


def test_device_ids_and_default() -> None:
    ids = [d.mcu for d in devices.DEVICES]
    assert ids == ["cortex-m0plus-48mhz", "cortex-m4f-80mhz", "cortex-m7-216mhz", "esp32-240mhz", "raspberry-pi-4"]
    perf = devices.on_device_performance("int8", model_bytes=1000, macs=10_000, arena_bytes=256)
    assert [p.is_default for p in perf].count(True) == 1
    assert next(p for p in perf if p.is_default).mcu == "cortex-m4f-80mhz"
    assert all(p.name and p.name != p.mcu for p in perf)


def test_latency_rom_ram_formulas() -> None:
    m4 = devices.get_device("cortex-m4f-80mhz")
    p = devices.estimate(m4, "int8", model_bytes=5000, macs=1_000_000, arena_bytes=2048, is_default=True)
    expected_ms = (1_000_000 * m4.cycles_per_mac_int8 + devices.OVERHEAD_CYCLES) / m4.clock_hz * 1000
    assert p.latency == pytest.approx(expected_ms, abs=1e-3)
    assert p.tflite.model_size == 5000 and p.tflite.rom_required == 5000 + m4.rom_tflite
    assert p.tflite.arena_size == 2048 and p.tflite.ram_required == 2048 + m4.ram_tflite
    assert p.eon.rom_required == 5000 + m4.rom_eon < p.tflite.rom_required
    f = devices.estimate(m4, "float32", model_bytes=20000, macs=1_000_000, arena_bytes=8192, is_default=True)
    assert f.latency > p.latency  # float32 costs more cycles per MAC
    slow = devices.estimate(devices.get_device("cortex-m0plus-48mhz"), "int8", model_bytes=5000, macs=1_000_000,
                            arena_bytes=2048, is_default=False)
    assert slow.latency > p.latency


def test_latency_grows_linearly_with_macs() -> None:
    m7 = devices.get_device("cortex-m7-216mhz")
    a = devices.estimate(m7, "int8", model_bytes=1, macs=1_000_000, arena_bytes=0, is_default=False).latency
    b = devices.estimate(m7, "int8", model_bytes=1, macs=2_000_000, arena_bytes=0, is_default=False).latency
    base = devices.OVERHEAD_CYCLES / m7.clock_hz * 1000
    assert b - base == pytest.approx(2 * (a - base), rel=1e-3)


def test_peak_live_bytes() -> None:
    # input 64 B live at ops 0; t1 (100 -> aligned 112) ops 0..1; t2 32 B ops 1..2; output 16 B op 2
    lives = [TensorLife(64, 0, 0), TensorLife(100, 0, 1), TensorLife(32, 1, 2), TensorLife(16, 2, 2)]
    assert devices.peak_live_bytes(lives) == max(64 + 112, 112 + 32, 32 + 16)
    assert devices.peak_live_bytes([]) == 0
    with pytest.raises(KeyError):
        devices.get_device("nope")


def test_devices_is_keras_free() -> None:
    assert "keras" not in devices.__dict__
    src = Path(devices.__file__).read_text()
    assert "import keras" not in src and "tensorflow" not in src
    assert "sweep.local.devices" in sys.modules
