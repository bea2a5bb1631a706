"""Streetlight rules, table-driven over the Swedish light year in Solna (59.36 N, 18.0 E).

Times are written as Stockholm wall-clock times and converted to UTC, so the tables read
like the facts they check (December: sun up ~08:45-14:50; midsummer: dark for about two
hours around 00:50 only, the sun never below about -7 degrees; both DST changes).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.rules.actions import Action, Clear, Raise
from hub.rules.lamp import LampParams, LampState, lamp_step, light_at
from trygg.clock import to_ms

STHLM = ZoneInfo("Europe/Stockholm")
LAT, LON = 59.36, 18.0
Obs = dict[str, float | str]
ON: Obs = {"powerState": "on", "intensity": 0.26, "activePower": 0.06}
OFF: Obs = {"powerState": "off", "intensity": 0.0, "activePower": 0.0}
ON_NO_CURRENT: Obs = {"powerState": "on", "intensity": 0.0, "activePower": 0.0}


def local(y: int, mo: int, d: int, h: int, mi: int = 0, *, fold: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=STHLM, fold=fold).astimezone(UTC)


def run(
    start: datetime,
    minutes: int,
    obs: dict[str, float | str] | Iterable[dict[str, float | str]],
    *,
    p: LampParams | None = None,
    state: LampState | None = None,
    step_s: int = 60,
) -> tuple[LampState, list[tuple[datetime, Action]]]:
    """Feed one observation every ``step_s`` for ``minutes``; returns (state, timed actions)."""
    params = p or LampParams()
    st = state or LampState()
    seq = iter(obs) if not isinstance(obs, dict) else None
    out: list[tuple[datetime, Action]] = []
    for i in range(minutes * 60 // step_s):
        when = start + timedelta(seconds=i * step_s)
        o = next(seq) if seq is not None else obs
        assert isinstance(o, dict)
        st, acts = lamp_step(st, o, asset="L", t_ms=to_ms(when), lat=LAT, lon=LON, p=params)
        out += [(when, a) for a in acts]
    return st, out


def kinds(actions: list[tuple[datetime, Action]]) -> list[str]:
    return [f"{'+' if isinstance(a, Raise) else '-'}{a.alarm}" for _, a in actions]


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (local(2026, 12, 15, 7, 0), "dark"),  # December morning, long before sunrise
        (local(2026, 12, 15, 8, 20), "twilight"),  # civil dawn: photocells may switch
        (local(2026, 12, 15, 12, 0), "day"),  # the sun is up, ~7 degrees
        (local(2026, 12, 15, 14, 40), "twilight"),  # sun setting ~14:45
        (local(2026, 12, 15, 16, 0), "dark"),  # December afternoon is night
        (local(2026, 6, 21, 23, 0), "twilight"),  # midsummer 23:00: still not dark
        (local(2026, 6, 22, 0, 50), "dark"),  # midsummer: the sun's lowest, about -7
        (local(2026, 6, 22, 2, 30), "twilight"),  # midsummer dawn
        (local(2026, 6, 22, 4, 30), "day"),
        (local(2026, 3, 29, 1, 30), "dark"),  # spring DST night, before 02:00 -> 03:00
        (local(2026, 3, 29, 3, 30), "dark"),  # after the change
        (local(2026, 10, 25, 2, 30, fold=0), "dark"),  # autumn: first 02:30 (CEST)
        (local(2026, 10, 25, 2, 30, fold=1), "dark"),  # second 02:30 (CET)
    ],
)
def test_light_by_sun_elevation_through_the_swedish_year(when: datetime, expected: str) -> None:
    assert light_at(LampState(), LampParams(), lat=LAT, lon=LON, t_ms=to_ms(when)) == expected


@pytest.mark.parametrize(
    ("start", "minutes", "obs", "expected"),
    [
        # December: an off lamp at 17:00 is out; at noon it is simply off.
        (local(2026, 12, 15, 17, 0), 5, OFF, ["+lampOut"]),
        (local(2026, 12, 15, 12, 0), 30, OFF, []),
        # "on" while drawing no current is out too (failed lamp, relay closed).
        (local(2026, 12, 15, 17, 0), 5, ON_NO_CURRENT, ["+lampOut"]),
        # twilight at dawn: no judgement either way, however long.
        (local(2026, 12, 15, 8, 15), 15, OFF, []),
        (local(2026, 12, 15, 8, 15), 15, ON, []),
        # a short glitch (1 min) is below the 2-minute hold
        (local(2026, 12, 15, 17, 0), 1, OFF, []),
        # December noon, lamp on for 15+ minutes: day-burning
        (local(2026, 12, 15, 11, 30), 20, ON, ["+dayBurning"]),
        # midsummer 23:00 lamp on: twilight, not day-burning; lamp off: not out either
        (local(2026, 6, 21, 22, 45), 30, ON, []),
        (local(2026, 6, 21, 22, 45), 30, OFF, []),
        # midsummer around 00:50: the short dark window is enough to find an out lamp
        (local(2026, 6, 22, 0, 40), 10, OFF, ["+lampOut"]),
        # midsummer 05:00: broad daylight, a burning lamp is day-burning
        (local(2026, 6, 22, 5, 0), 20, ON, ["+dayBurning"]),
    ],
)
def test_lamp_out_and_day_burning(
    start: datetime, minutes: int, obs: dict[str, float | str], expected: list[str]
) -> None:
    _, actions = run(start, minutes, obs)
    assert kinds(actions) == expected


def test_midsummer_night_off_lamp_is_found_only_inside_the_dark_window() -> None:
    _, actions = run(local(2026, 6, 21, 22, 0), 6 * 60, OFF)
    assert kinds(actions) == ["+lampOut"]
    raised_local = actions[0][0].astimezone(STHLM)
    # dark (< -6 deg) begins ~23:45 local; plus the 2-minute hold
    assert local(2026, 6, 21, 23, 40) <= actions[0][0] <= local(2026, 6, 22, 0, 0), raised_local


def test_a_long_hold_never_fires_in_the_midsummer_night() -> None:
    # A rule that assumes a long night (here: 3 h of "off" before alarming) would never
    # fire in June, because the dark window is about two hours.
    p = LampParams(lamp_out_min_s=3 * 3600)
    _, june = run(local(2026, 6, 21, 22, 0), 6 * 60, OFF, p=p)
    _, december = run(local(2026, 12, 15, 17, 0), 4 * 60, OFF, p=p)
    assert kinds(june) == []
    assert kinds(december) == ["+lampOut"]


def test_out_lamp_clears_when_seen_lit_and_stays_active_through_the_day() -> None:
    st, first = run(local(2026, 12, 15, 6, 0), 10, OFF)
    assert kinds(first) == ["+lampOut"]
    st, day = run(local(2026, 12, 15, 11, 0), 60, OFF, state=st)
    assert kinds(day) == []  # daylight "off" proves nothing: still out
    assert st.out.active
    _, evening = run(local(2026, 12, 15, 17, 0), 5, ON, state=st)
    assert kinds(evening) == ["-lampOut"]


@pytest.mark.parametrize(
    "start",
    [
        local(2026, 3, 28, 22, 0),  # spring forward: 02:00 CET -> 03:00 CEST
        local(2026, 10, 24, 22, 0),  # fall back: 03:00 CEST -> 02:00 CET
    ],
)
def test_a_night_across_a_dst_change_raises_once_and_clears_once(start: datetime) -> None:
    # off all night, then lit the next evening: exactly one ticket-worthy raise and one clear
    st, night = run(start, 8 * 60, OFF)
    _, evening = run(start + timedelta(hours=19), 5, ON, state=st)
    assert kinds(night) == ["+lampOut"]
    assert kinds(evening) == ["-lampOut"]


def test_hold_time_counts_real_minutes_across_the_repeated_autumn_hour() -> None:
    # 02:59 CEST and 02:01 CET are two real minutes apart (UTC), not -58 minutes.
    a = local(2026, 10, 25, 2, 59, fold=0)
    b = local(2026, 10, 25, 2, 1, fold=1)
    assert b - a == timedelta(minutes=2)
    st, acts = lamp_step(
        LampState(), OFF, asset="L", t_ms=to_ms(a), lat=LAT, lon=LON, p=LampParams()
    )
    assert acts == []
    _, acts = lamp_step(st, OFF, asset="L", t_ms=to_ms(b), lat=LAT, lon=LON, p=LampParams())
    assert [x.alarm for x in acts] == ["lampOut"]


def test_a_tick_completes_the_hold_without_another_reading() -> None:
    t0 = local(2026, 12, 15, 18, 0)
    st, acts = lamp_step(
        LampState(), OFF, asset="L", t_ms=to_ms(t0), lat=LAT, lon=LON, p=LampParams()
    )
    assert acts == []
    t1 = t0 + timedelta(seconds=121)
    _, acts = lamp_step(st, None, asset="L", t_ms=to_ms(t1), lat=LAT, lon=LON, p=LampParams())
    assert [type(a) for a in acts] == [Raise]


@pytest.mark.parametrize(
    ("lux", "obs", "expected"),
    [
        (5.0, OFF, ["+lampOut"]),  # the photocell says dark (heavy overcast at noon)
        (5.0, ON, []),  # lit when the photocell says dark: fine, even at noon
        (20_000.0, ON, ["+dayBurning"]),
        (50.0, ON, []),  # between dark_lux and light_lux: twilight band
    ],
)
def test_lux_sensor_overrides_the_sun(
    lux: float, obs: dict[str, float | str], expected: list[str]
) -> None:
    _, actions = run(local(2026, 12, 15, 12, 0), 20, {**obs, "illuminance": lux})
    assert kinds(actions) == expected


def test_flicker_raises_on_rapid_cycling_and_clears_after_a_quiet_period() -> None:
    start = local(2026, 12, 15, 20, 0)
    cycling: list[Obs] = [ON if i % 2 else OFF for i in range(8)]
    st, acts = run(start, 4, cycling, step_s=30)
    assert "+flicker" in kinds(acts)
    st, acts = run(start + timedelta(minutes=4), 30, ON, state=st)
    assert kinds(acts) == ["-flicker"]


def test_power_drop_against_the_lamps_own_baseline_with_hysteresis() -> None:
    start = local(2026, 12, 15, 18, 0)
    p = LampParams(power_drop_min_s=300, power_drop_off_s=300)
    st, acts = run(start, 15, {**ON, "activePower": 0.080}, p=p)  # learns 80 W
    assert acts == []
    assert st.baseline_kw == pytest.approx(0.080, rel=0.01)
    # 70 W: 12 % down, inside the band: nothing happens
    st, acts = run(start + timedelta(minutes=15), 20, {**ON, "activePower": 0.070}, p=p, state=st)
    assert acts == []
    # 60 W: 25 % down, sustained: raised once
    st, acts = run(start + timedelta(minutes=35), 20, {**ON, "activePower": 0.060}, p=p, state=st)
    assert kinds(acts) == ["+powerDrop"]
    assert isinstance(acts[0][1], Raise)
    assert acts[0][1].details["ratio"] == pytest.approx(0.75, abs=0.01)
    # back to 78 W: recovered, cleared once
    _, acts = run(start + timedelta(minutes=55), 20, {**ON, "activePower": 0.078}, p=p, state=st)
    assert kinds(acts) == ["-powerDrop"]


def test_rated_power_seeds_the_baseline() -> None:
    p = LampParams(rated_power_kw=0.1, power_drop_min_s=0)
    _, acts = run(local(2026, 12, 15, 18, 0), 2, {**ON, "activePower": 0.05}, p=p)
    assert kinds(acts) == ["+powerDrop"]


def test_out_signal_is_raw_for_the_cabinet_rule() -> None:
    st, _ = run(local(2026, 12, 15, 18, 0), 1, OFF)
    assert st.out_signal == "set"
    assert not st.out.active  # the lamp's own alarm waits for its hold


def test_clear_is_emitted_as_clear_action() -> None:
    st, _ = run(local(2026, 12, 15, 18, 0), 5, OFF)
    _, acts = run(local(2026, 12, 15, 18, 5), 2, ON, state=st)
    assert [type(a) for _, a in acts] == [Clear]
