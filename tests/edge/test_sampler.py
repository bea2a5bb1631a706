"""Sampling policy (windows, deadband, max silence), time order, and safety events. Pure."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from edge.drivers.base import Sample
from edge.safety import FireLimits, SafetyWatch
from edge.sampler import MIN_EPOCH_MS, Policy, Sampler, combine
from trygg.clock import to_ms
from trygg.contract import AssetKind, Reading, Value

T0 = datetime(2026, 12, 15, 21, 0, tzinfo=UTC)
BIN = AssetKind.BIN


def _feed(
    s: Sampler, values: list[float], *, step: float = 1.0, field: str = "distance"
) -> list[Reading]:
    out = []
    for i, v in enumerate(values):
        out += s.readings(
            asset="b",
            kind=BIN,
            sensor="lvl",
            sample=Sample({field: v}),
            now=T0 + timedelta(seconds=i * step),
        )
    return out


@pytest.mark.parametrize(
    ("values", "how", "expected"),
    [
        ([0.5, 0.52, 0.02, 0.51, 0.49], "median", 0.5),  # the bag echo at 0.02 is ignored
        ([1.0, 2.0, 3.0, 4.0], "mean", 2.5),
        ([1.0, 2.0, 9.0], "last", 9.0),
        ([True, False], "median", False),
        (["on", "off", "on"], "mean", "on"),
        ([1, 2, 4], "median", 2),
    ],
)
def test_combine(values: list[Value], how: str, expected: object) -> None:
    assert combine(values, how) == expected


def test_window_publishes_one_median_per_window() -> None:
    s = Sampler({("b", "lvl"): Policy(window=5)})
    out = _feed(s, [0.5, 0.52, 0.02, 0.51, 0.49, 0.4, 0.41, 0.4, 0.39, 0.9])
    assert [r.v for r in out] == [0.5, 0.4]
    assert out[0].t == to_ms(T0 + timedelta(seconds=4))  # time of the window's last read


def test_deadband_suppresses_small_changes_until_max_silence() -> None:
    s = Sampler({("b", "lvl"): Policy(deadband=0.05, max_silence_s=10)})
    out = _feed(s, [0.50, 0.52, 0.54, 0.56] + [0.56] * 11)
    # first value, then 0.56 (moved 0.06), then the unchanged value again 10 s later
    assert [(r.v, r.t - to_ms(T0)) for r in out] == [(0.5, 0), (0.56, 3000), (0.56, 13000)]


def test_zero_deadband_publishes_on_any_change_only() -> None:
    s = Sampler({("b", "tilt"): Policy(deadband=0)})
    out = []
    for i, v in enumerate([False, False, True, True, False]):
        out += s.readings(
            asset="b",
            kind=BIN,
            sensor="tilt",
            sample=Sample({"tilted": v}),
            now=T0 + timedelta(seconds=i),
        )
    assert [r.v for r in out] == [False, True, False]


def test_worst_quality_of_the_window_wins_and_a_quality_change_is_published() -> None:
    s = Sampler({("b", "lvl"): Policy(window=2, deadband=1.0)})
    out = []
    for i, q in enumerate(["good", "good", "good", "uncertain"]):
        out += s.readings(
            asset="b",
            kind=BIN,
            sensor="lvl",
            sample=Sample({"distance": 0.5}, q),
            now=T0 + timedelta(seconds=i),
        )
    assert [r.q for r in out] == ["good", "uncertain"]


def test_times_never_go_backwards_and_unsynced_is_flagged() -> None:
    s = Sampler()
    first = s.readings(
        asset="b",
        kind=BIN,
        sensor="lvl",
        sample=Sample({"distance": 1.0}),
        now=T0,
        clock_synced=False,
    )
    # NTP steps the clock back by an hour: the next reading still sorts after the first
    back = s.readings(
        asset="b",
        kind=BIN,
        sensor="lvl",
        sample=Sample({"distance": 0.9}),
        now=T0 - timedelta(hours=1),
        clock_synced=False,
    )
    assert back[0].t == first[0].t + 1
    assert first[0].unsynced
    assert back[0].unsynced
    # a Pi that boots in 1970 still produces a valid contract time, flagged unsynced
    old = s.readings(
        asset="b",
        kind=BIN,
        sensor="x",
        sample=Sample({"distance": 1.0}),
        now=datetime(1970, 1, 1, tzinfo=UTC),
        clock_synced=False,
    )
    assert old[0].t == MIN_EPOCH_MS
    assert old[0].unsynced


def test_safety_fire_jump_tilt_and_sensor_fault_are_latched() -> None:
    w = SafetyWatch({("b", "t"): FireLimits(fire_c=70, jump_c=10, jump_window_s=120)})

    def temp(v: float, s: int, q: str = "good") -> list[str]:
        events = w.sample(
            asset="b",
            kind=BIN,
            sensor="t",
            sample=Sample({"temperature": v}, q),
            now=T0 + timedelta(seconds=s),
        )
        return [f"{e.type}:{e.active}" for e in events]

    assert temp(8, 0) == []
    assert temp(12, 60) == []
    assert temp(19, 90) == ["temperatureJump:True"]  # +11 within 120 s
    assert temp(25, 100) == []  # still jumping: no repeat
    assert temp(71, 110) == ["fire:True"]
    assert temp(72, 400) == ["temperatureJump:False"]  # steady now, but still hot
    assert temp(20, 500) == ["fire:False"]
    assert temp(20, 510, "bad") == ["sensorFault:True"]
    assert temp(20, 520) == ["sensorFault:False"]
    tilts = [
        w.sample(asset="b", kind=BIN, sensor="tilt", sample=Sample({"tilted": v}), now=T0)
        for v in (False, True, True, False)
    ]
    assert [[e.type + str(e.active) for e in t] for t in tilts] == [
        [],
        ["tiltTrue"],
        [],
        ["tiltFalse"],
    ]
    failed = w.failed(asset="b", kind=BIN, sensor="tilt", now=T0)
    assert [e.severity for e in failed] == ["minor"]
    assert w.failed(asset="b", kind=BIN, sensor="tilt", now=T0) == []


def test_pure_modules_import_no_io() -> None:
    code = (
        "import sys, edge.sampler, edge.safety, edge.drivers.ultrasonic, edge.drivers.ina219, "
        "edge.drivers.bh1750, edge.drivers.ds18b20, edge.drivers.sim_model;"
        "bad = sorted(m for m in ('asyncio', 'sqlite3', 'paho', 'gpiozero', 'smbus2', 'cv2', "
        "'onnxruntime', 'httpx') if m in sys.modules); print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
