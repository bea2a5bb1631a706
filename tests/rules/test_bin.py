"""Waste bin rules, table-driven: full (per-bin threshold, hysteresis, sustained), forecast,
fire (critical), tilt and a dead level sensor."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

import pytest

from hub.rules.actions import Raise
from hub.rules.bin import BinParams, BinState, bin_step, fill_rate_per_hour
from hub.rules.params import from_properties
from trygg.clock import to_ms

T0 = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the night of the autumn DST change


def feed(
    values: Iterable[Mapping[str, float | bool]],
    *,
    p: BinParams | None = None,
    state: BinState | None = None,
    start: datetime = T0,
    step_s: int = 60,
) -> tuple[BinState, list[tuple[int, str]]]:
    st = state or BinState()
    out: list[tuple[int, str]] = []
    for i, obs in enumerate(values):
        t = to_ms(start + timedelta(seconds=i * step_s))
        st, acts = bin_step(st, obs, asset="B", t_ms=t, p=p or BinParams())
        out += [(i, f"{'+' if isinstance(a, Raise) else '-'}{a.alarm}") for a in acts]
    return st, out


def names(events: list[tuple[int, str]]) -> list[str]:
    return [n for _, n in events]


@pytest.mark.parametrize(
    ("levels", "props", "expected"),
    [
        ([0.85] * 12, {}, ["+binFull"]),  # above the default 0.8 for > 10 min
        ([0.85] * 8, {}, []),  # not sustained long enough
        ([0.85] * 12, {"fullnessThreshold": 0.9}, []),  # this bin's own threshold
        ([0.95] * 12, {"fullnessThreshold": 0.9}, ["+binFull"]),
        # noise around the threshold never flaps: one raise, no clear inside the band
        ([0.85] * 11 + [0.78, 0.82, 0.76, 0.81] * 10, {}, ["+binFull"]),
        # emptied: clears after its 2-minute hold
        ([0.85] * 11 + [0.05] * 4, {}, ["+binFull", "-binFull"]),
    ],
)
def test_full_with_per_bin_threshold_and_hysteresis(
    levels: list[float], props: dict[str, float], expected: list[str]
) -> None:
    p, errors = from_properties(BinParams, props)
    assert errors == []
    _, ev = feed(({"fillingLevel": v} for v in levels), p=p)
    assert [n for n in names(ev) if "Forecast" not in n] == expected


def test_forecast_full_within_n_hours_from_the_fill_rate() -> None:
    # 0.05 per hour from 0.3: full (0.8) in ~10 h -> no forecast with N = 6 h ...
    slow = [{"fillingLevel": 0.3 + 0.05 * i / 6} for i in range(24)]  # every 10 min
    _, ev = feed(slow, step_s=600)
    assert "+binForecastFull" not in names(ev)
    # ... 0.1 per hour from 0.3: full in 5 h -> forecast raised
    fast = [{"fillingLevel": 0.3 + 0.1 * i / 6} for i in range(12)]
    st, ev = feed(fast, step_s=600)
    assert names(ev) == ["+binForecastFull"]
    assert st.hours_to_full is not None
    assert 2.0 < st.hours_to_full < 6.0
    # emptied: the forecast clears
    _, ev = feed([{"fillingLevel": 0.02}], state=st, start=T0 + timedelta(hours=3))
    assert names(ev) == ["-binForecastFull"]


def test_fill_rate_is_least_squares_per_hour() -> None:
    t = to_ms(T0)
    levels = tuple((t + i * 1_800_000, 0.1 + 0.05 * i) for i in range(5))
    assert fill_rate_per_hour(levels) == pytest.approx(0.1)
    assert fill_rate_per_hour(levels[:2]) is None


@pytest.mark.parametrize(
    ("temps", "expected"),
    [
        ([20, 21, 20, 22], []),
        ([20, 75], ["+binFire"]),  # above the fire threshold: at once
        ([30, 34, 38, 42, 46], ["+binFire"]),  # +16 degrees within 10 minutes: fast rise
        ([20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60, 64], ["+binFire"]),  # counted once
        ([20, 75] + [30] * 12, ["+binFire", "-binFire"]),  # cooled for 10 min: cleared
        ([20, 75] + [50] * 12, ["+binFire"]),  # 50 is still warm: inside the band
    ],
)
def test_fire_is_critical_and_has_hysteresis(temps: list[float], expected: list[str]) -> None:
    _, ev = feed({"temperature": float(v)} for v in temps)
    assert names(ev) == expected


def test_fire_raise_is_critical_with_evidence() -> None:
    _st, acts = bin_step(
        BinState(), {"temperature": 80.0}, asset="B", t_ms=to_ms(T0), p=BinParams()
    )
    assert isinstance(acts[0], Raise)
    assert acts[0].severity == "critical"
    assert acts[0].details["temperature"] == 80.0


def test_edge_events_tilt_and_temperature_jump() -> None:
    p = BinParams()
    st, a1 = bin_step(BinState(), None, asset="B", t_ms=to_ms(T0), p=p, events={"tilt": True})
    st, a2 = bin_step(st, None, asset="B", t_ms=to_ms(T0) + 1000, p=p, events={"tilt": True})
    st, a3 = bin_step(st, None, asset="B", t_ms=to_ms(T0) + 2000, p=p, events={"tilt": False})
    st, a4 = bin_step(st, None, asset="B", t_ms=to_ms(T0) + 70_000, p=p)  # tick after hold
    st, a5 = bin_step(
        st, None, asset="B", t_ms=to_ms(T0) + 80_000, p=p, events={"temperatureJump": True}
    )
    got = [[(type(a).__name__, a.alarm) for a in acts] for acts in (a1, a2, a3, a4, a5)]
    assert got == [
        [("Raise", "binTilted")],
        [],
        [],
        [("Clear", "binTilted")],
        [("Raise", "binFire")],
    ]


def test_tilted_reading_with_a_minimum_duration() -> None:
    p, _ = from_properties(BinParams, {"tiltMinS": 120})
    _, ev = feed([{"tilted": True}] * 2 + [{"tilted": False}] + [{"tilted": True}] * 4, p=p)
    assert names(ev) == ["+binTilted"]
    assert ev[0][0] == 5  # the upright reading restarted the two-minute hold


def test_sensor_dead_by_silence_counted_from_the_hub_start_floor() -> None:
    p = BinParams(sensor_timeout_s=3600)
    t0 = to_ms(T0)
    st, acts = bin_step(BinState(), {"fillingLevel": 0.4}, asset="B", t_ms=t0, p=p)
    assert acts == []
    # The hub restarted 2 h later: silence counts from its start + grace, not from t0.
    floor = t0 + 2 * 3_600_000
    st, acts = bin_step(st, None, asset="B", t_ms=floor + 60_000, p=p, floor_ms=floor)
    assert acts == []
    st, acts = bin_step(st, None, asset="B", t_ms=floor + 3_601_000, p=p, floor_ms=floor)
    assert [a.alarm for a in acts] == ["binSensorDead"]
    _, acts = bin_step(
        st, {"fillingLevel": 0.5}, asset="B", t_ms=floor + 3_700_000, p=p, floor_ms=floor
    )
    assert [type(a).__name__ for a in acts] == ["Clear"]


def test_sensor_dead_after_consecutive_bad_readings() -> None:
    st = BinState()
    seen: list[str] = []
    for i, (v, q) in enumerate([(0.4, "good"), (1.7, "good"), (0.4, "bad"), (0.4, "bad")]):
        st, acts = bin_step(
            st, {"fillingLevel": v}, asset="B", t_ms=to_ms(T0) + i * 1000, p=BinParams(), quality=q
        )
        seen += [a.alarm for a in acts]
    assert seen == ["binSensorDead"]  # an out-of-range level counts as bad


def test_refused_thresholds_keep_defaults_and_say_why() -> None:
    p, errors = from_properties(
        BinParams, {"fullnessThreshold": 1.7, "forecastHours": "soon", "fireC": 60}
    )
    assert p.fullness_threshold == BinParams().fullness_threshold
    assert p.forecast_hours == BinParams().forecast_hours
    assert p.fire_c == 60.0
    assert len(errors) == 2
    assert any("fullnessThreshold" in e for e in errors)
