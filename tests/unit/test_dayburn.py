"""Day-burning seconds and wasted energy per lamp (hub/dayburn.py): the pure part."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.dayburn import Lamp, Sample, burn, dayburn_lines, samples_by_asset
from hub.rules.lamp import LampParams
from trygg.clock import to_ms
from trygg.sun import sun_elevation

LAT, LON = 59.36, 18.0
NOON = to_ms(datetime(2026, 6, 15, 11, 0, tzinfo=UTC))  # sun ~54 deg
NIGHT = to_ms(datetime(2026, 12, 15, 22, 0, tzinfo=UTC))  # sun ~-50 deg
P = LampParams()
KW = 0.07


def _on(t_ms: int, kw: float = KW, state: str = "on") -> Sample:
    return Sample(t_ms=t_ms, power_state=state, power_kw=kw)


def _every_minute(start: int, minutes: int, kw: float = KW) -> list[Sample]:
    return [_on(start + i * 60_000, kw) for i in range(minutes)]


def test_the_times_are_day_and_night() -> None:
    assert sun_elevation(LAT, LON, datetime.fromtimestamp(NOON / 1000, UTC)) > 40
    assert sun_elevation(LAT, LON, datetime.fromtimestamp(NIGHT / 1000, UTC)) < -40


def test_lit_by_day_counts_the_whole_interval_and_its_energy() -> None:
    minutes = 10
    b = burn(
        _every_minute(NOON, minutes),
        start_ms=NOON,
        end_ms=NOON + minutes * 60_000,
        lat=LAT,
        lon=LON,
        p=P,
    )
    assert b.seconds == pytest.approx(minutes * 60)
    assert b.energy_wh == pytest.approx(KW * 1000 * minutes / 60)


def test_lit_at_night_or_off_by_day_is_no_day_burning() -> None:
    night = burn(
        _every_minute(NIGHT, 5), start_ms=NIGHT, end_ms=NIGHT + 300_000, lat=LAT, lon=LON, p=P
    )
    off = [Sample(NOON + i * 60_000, "off", 0.0) for i in range(5)]
    day_off = burn(off, start_ms=NOON, end_ms=NOON + 300_000, lat=LAT, lon=LON, p=P)
    assert night.seconds == night.energy_wh == 0.0
    assert day_off.seconds == day_off.energy_wh == 0.0


def test_on_without_current_is_not_lit() -> None:
    dead = _every_minute(NOON, 5, kw=0.0)
    b = burn(dead, start_ms=NOON, end_ms=NOON + 300_000, lat=LAT, lon=LON, p=P)
    assert b.seconds == 0.0


def test_state_is_held_from_before_the_interval_but_not_past_hold() -> None:
    # One reading 5 minutes before the interval, then silence: held for hold_s only.
    before = NOON - 300_000
    b = burn(
        [_on(before)],
        start_ms=NOON,
        end_ms=NOON + 3_600_000,
        lat=LAT,
        lon=LON,
        p=P,
        hold_s=900.0,
    )
    assert b.seconds == pytest.approx(900 - 300)
    assert b.energy_wh == pytest.approx(KW * 1000 * 600 / 3600)


def test_switching_off_mid_interval_stops_the_count() -> None:
    samples = [_on(NOON), Sample(NOON + 90_000, "off", 0.0)]
    b = burn(samples, start_ms=NOON, end_ms=NOON + 300_000, lat=LAT, lon=LON, p=P)
    assert b.seconds == pytest.approx(90)


def test_a_fresh_lux_reading_overrides_the_sun_as_the_lamp_rule_does() -> None:
    dark_pole = [*_every_minute(NOON, 5), Sample(NOON, lux=2.0)]  # photocell covered
    b = burn(dark_pole, start_ms=NOON, end_ms=NOON + 300_000, lat=LAT, lon=LON, p=P)
    assert b.seconds == 0.0
    # Night but the lux sensor sees daylight (e.g. a floodlit square): the rule says "day".
    bright = [*_every_minute(NIGHT, 5), Sample(NIGHT, lux=5000.0)]
    lit = burn(bright, start_ms=NIGHT, end_ms=NIGHT + 300_000, lat=LAT, lon=LON, p=P)
    assert lit.seconds == pytest.approx(300)


def test_per_lamp_thresholds_apply() -> None:
    # 5 klx under a cloudy sky: "day" by default, twilight for a lamp asking 10 klx.
    cloudy = [*_every_minute(NOON, 2), Sample(NOON, lux=5000.0)]
    for p, expected in ((P, 120.0), (LampParams(light_lux=10_000.0), 0.0)):
        b = burn(cloudy, start_ms=NOON, end_ms=NOON + 120_000, lat=LAT, lon=LON, p=p)
        assert b.seconds == pytest.approx(expected)


def test_lines_only_for_lamps_that_burned_with_asset_and_site_tags() -> None:
    lamps = [
        Lamp("l-burn", "solna-centrum", LAT, LON, P),
        Lamp("l-off", "solna-centrum", LAT, LON, P),
        Lamp("l-silent", "arenastaden", LAT, LON, P),
    ]
    samples = {
        "l-burn": _every_minute(NOON, 2),
        "l-off": [Sample(NOON, "off", 0.0)],
    }
    lines = dayburn_lines(lamps, samples, start_ms=NOON, end_ms=NOON + 120_000)
    wh = KW * 1000 * 120 / 3600
    assert lines == [
        f"streetlight_dayburn,asset=l-burn,site=solna-centrum seconds=120.0,"
        f"energy_wh={round(wh, 3)!r} {NOON + 120_000}"
    ]


def test_samples_are_read_from_an_influxql_result() -> None:
    result = [
        {
            "series": [
                {
                    "name": "streetlight",
                    "tags": {"asset": "l1"},
                    "columns": ["time", "powerState", "activePower", "illuminance"],
                    "values": [[1000, "on", 0.07, None], [1000, None, None, 3.5]],
                }
            ]
        }
    ]
    assert samples_by_asset(result) == {
        "l1": [Sample(1000, "on", 0.07, None), Sample(1000, None, None, 3.5)]
    }
    assert samples_by_asset([{}]) == {}
