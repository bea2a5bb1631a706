"""Hourly state durations per asset from readings (hub/followup/hours.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.followup.hours import HOUR_MS, AssetInfo, HourRow, Obs, asset_hours
from trygg.clock import to_ms

LAT, LON = 59.36, 18.0
NIGHT = to_ms(datetime(2026, 12, 15, 22, 0, tzinfo=UTC))
NOON = to_ms(datetime(2026, 6, 15, 10, 0, tzinfo=UTC))
MIN = 60_000
LAMP = AssetInfo("lamp-1", "streetlight", "råsunda", LAT, LON)
BIN = AssetInfo("bin-1", "bin", "råsunda", LAT, LON)
CAM = AssetInfo("cam-1", "camera", "råsunda", LAT, LON)


def _cell(rows: list[HourRow], fld: str, value: str) -> HourRow | None:
    found = [r for r in rows if r.field == fld and r.value == value]
    return found[0] if found else None


def _seconds(rows: list[HourRow], fld: str, value: str) -> float:
    cell = _cell(rows, fld, value)
    return cell.seconds if cell else 0.0


def _lamp(start: int, minutes: int, state: str = "on", kw: float = 0.07) -> list[Obs]:
    out: list[Obs] = []
    for i in range(minutes):
        out += [Obs(start + i * MIN, "powerState", state), Obs(start + i * MIN, "activePower", kw)]
    return out


def test_a_lamp_lit_all_night_is_lit_dark_for_the_whole_hour() -> None:
    rows = asset_hours(LAMP, _lamp(NIGHT - 5 * MIN, 65), start_ms=NIGHT, end_ms=NIGHT + HOUR_MS)
    assert _seconds(rows, "lamp", "litDark") == pytest.approx(3600.0)
    assert _seconds(rows, "reporting", "heard") == pytest.approx(3600.0)
    assert _seconds(rows, "powerState", "on") == pytest.approx(3600.0)


def test_a_lamp_silent_for_half_the_hour_is_unknown_after_the_hold() -> None:
    rows = asset_hours(LAMP, _lamp(NIGHT, 20), start_ms=NIGHT, end_ms=NIGHT + HOUR_MS)
    # last reading at minute 19, held 5 minutes: lit until minute 24
    assert _seconds(rows, "lamp", "litDark") == pytest.approx(24 * 60.0)
    assert _seconds(rows, "lamp", "unknownDark") == pytest.approx(36 * 60.0)
    assert _seconds(rows, "reporting", "silent") == pytest.approx(36 * 60.0)


def test_a_lamp_off_at_night_and_on_by_day() -> None:
    night = asset_hours(
        LAMP, _lamp(NIGHT, 60, state="off", kw=0.0), start_ms=NIGHT, end_ms=NIGHT + HOUR_MS
    )
    assert _seconds(night, "lamp", "unlitDark") == pytest.approx(3600.0)
    day = asset_hours(LAMP, _lamp(NOON, 60, kw=0.1), start_ms=NOON, end_ms=NOON + HOUR_MS)
    burning = _cell(day, "lamp", "litDay")
    assert burning is not None
    assert burning.seconds == pytest.approx(3600.0)
    assert burning.amount == pytest.approx(100.0)  # 0.1 kW for an hour


def test_a_lamp_that_says_on_but_draws_nothing_is_not_lit() -> None:
    rows = asset_hours(LAMP, _lamp(NIGHT, 60, kw=0.0), start_ms=NIGHT, end_ms=NIGHT + HOUR_MS)
    assert _seconds(rows, "lamp", "unlitDark") == pytest.approx(3600.0)


def test_bin_full_time_collections_and_fires() -> None:
    levels = [0.5, 0.7, 0.85, 0.9, 0.95, 0.1, 0.2]  # every 10 min, emptied at minute 50
    obs = [Obs(NOON + i * 10 * MIN, "fillingLevel", v) for i, v in enumerate(levels)]
    obs += [Obs(NOON + 5 * MIN, "temperature", 20.0), Obs(NOON + 15 * MIN, "temperature", 80.0)]
    obs += [Obs(NOON + 25 * MIN, "temperature", 30.0), Obs(NOON + 35 * MIN, "temperature", 75.0)]
    rows = asset_hours(BIN, obs, start_ms=NOON, end_ms=NOON + HOUR_MS)
    assert _seconds(rows, "bin", "full") == pytest.approx(30 * 60.0)  # minutes 20..50
    counts = {r.value: r.count for r in rows if r.field == "event"}
    assert counts == {"collection": 1, "fire": 2}


def test_camera_health_by_score() -> None:
    obs = [Obs(NOON + i * MIN, "healthScore", 0.9 if i < 45 else 0.2) for i in range(60)]
    rows = asset_hours(CAM, obs, start_ms=NOON, end_ms=NOON + HOUR_MS)
    assert _seconds(rows, "camera", "healthy") == pytest.approx(45 * 60.0)
    assert _seconds(rows, "camera", "degraded") == pytest.approx(15 * 60.0)


def test_rows_split_by_hour_and_sum_to_the_range() -> None:
    rows = asset_hours(LAMP, _lamp(NIGHT, 180), start_ms=NIGHT, end_ms=NIGHT + 3 * HOUR_MS)
    assert sorted({r.hour_ms for r in rows}) == [NIGHT, NIGHT + HOUR_MS, NIGHT + 2 * HOUR_MS]
    for h in (NIGHT, NIGHT + HOUR_MS):
        per_hour = [r for r in rows if r.hour_ms == h and r.field == "lamp"]
        assert sum(r.seconds for r in per_hour) == pytest.approx(3600.0)


def test_same_readings_give_the_same_rows_in_any_order() -> None:
    obs = _lamp(NIGHT, 60)
    a = asset_hours(LAMP, obs, start_ms=NIGHT, end_ms=NIGHT + HOUR_MS)
    b = asset_hours(LAMP, list(reversed(obs)), start_ms=NIGHT, end_ms=NIGHT + HOUR_MS)
    assert a == b


def test_bounds_must_be_whole_hours() -> None:
    with pytest.raises(ValueError, match="whole UTC hours"):
        asset_hours(LAMP, [], start_ms=NIGHT + 1, end_ms=NIGHT + HOUR_MS)


def test_no_readings_is_a_silent_unknown_hour() -> None:
    rows = asset_hours(LAMP, [], start_ms=NIGHT, end_ms=NIGHT + HOUR_MS)
    assert _seconds(rows, "reporting", "silent") == pytest.approx(3600.0)
    assert _seconds(rows, "lamp", "unknownDark") == pytest.approx(3600.0)


def test_a_long_text_state_is_cut_to_the_column() -> None:
    obs = [Obs(NIGHT + i * MIN, "powerState", "x" * 200) for i in range(60)]
    rows = asset_hours(LAMP, obs, start_ms=NIGHT, end_ms=NIGHT + HOUR_MS)
    (state,) = [r for r in rows if r.field == "powerState"]
    assert state.value == "x" * 32
    assert state.seconds == pytest.approx(3600.0)
