"""The crowd rules, pure: level of service with hysteresis and durations, rising density,
over capacity, blind zones, phases that tighten, and event times across both DST changes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from hub.alerts.model import AlertAction, AlertClear, AlertRaise
from hub.alerts.schedule import Event, Phase, Tightening, local_time, running
from hub.rules.codec import dump, load
from hub.rules.crowd import CrowdParams, CrowdState, crowd_params, crowd_step

ZONE = "pole-0042-crowd0"
wall = datetime.fromisoformat  # a time without offset: Stockholm's wall clock
P = CrowdParams(zone_area=100.0, capacity=200.0, los_min_s=20, los_off_s=60, rise_per_min=100)


def run(
    densities: Sequence[float | None],
    *,
    p: CrowdParams = P,
    step_s: float = 5.0,
    phase: Phase | None = None,
    t0_ms: int = 0,
) -> list[tuple[int, AlertAction]]:
    """Feed one density per ``step_s`` (None: a tick); returns (second, action) pairs."""
    st, out = CrowdState(), []
    for i, d in enumerate(densities):
        obs = None if d is None else {"peopleDensity": d, "peopleCount": round(d * p.zone_area)}
        t = t0_ms + int(i * step_s * 1000)
        st, acts = crowd_step(st, obs, zone=ZONE, t_ms=t, p=p, phase=phase)
        out += [(int((t - t0_ms) / 1000), a) for a in acts]
    return out


def levels(actions: list[tuple[int, AlertAction]]) -> list[tuple[int, str]]:
    return [
        (t, a.severity if isinstance(a, AlertRaise) else "clear")
        for t, a in actions
        if a.kind == "crowdLevel"
    ]


def test_los_e_raises_severe_after_its_minimum_duration_only() -> None:
    # walkway E starts at 1.08 persons/m²; 20 s min: raised at the 5th reading (t=20 s)
    assert levels(run([1.2] * 6)) == [(20, "Severe")]
    # an interruption (back to D) restarts the hold
    assert levels(run([1.2, 1.2, 1.2, 0.9, 1.2, 1.2, 1.2, 1.2, 1.2])) == [(40, "Severe")]


def test_los_f_is_extreme_and_a_raise_to_f_sharpens_the_open_alert() -> None:
    acts = levels(run([1.5] * 5 + [2.5] * 5))
    assert acts == [(20, "Severe"), (45, "Extreme")]


def test_hysteresis_band_keeps_the_alert_and_clearing_needs_its_duration() -> None:
    # 1.0 is below E (1.08) but above the clear line 1.08 x 0.9 = 0.972: no clear
    band = run([1.2] * 5 + [1.0] * 30)
    assert levels(band) == [(20, "Severe")]
    # 0.9 is below the clear line: cleared after 60 s held
    cleared = run([1.2] * 5 + [0.9] * 14)
    assert levels(cleared) == [(20, "Severe"), (85, "clear")]


def test_ticks_complete_a_duration_without_a_new_reading() -> None:
    assert levels(run([1.2, None, None, None, None])) == [(20, "Severe")]


def test_queue_scale_is_judged_on_fruins_queuing_table() -> None:
    queue = crowd_params({"zoneArea": 100.0, "scale": "queue", "losMinS": 0})[0]
    assert queue.scale == "queue"
    assert levels(run([2.0] * 3, p=queue)) == []  # walkway E, but queue C
    assert levels(run([3.6] * 3, p=queue)) == [(0, "Severe")]  # queue E from 3.59


def test_bad_zone_properties_are_refused_and_defaults_kept() -> None:
    p, errors = crowd_params({"scale": "stadium", "losMinS": -3, "capacity": "many"})
    assert p == CrowdParams()
    assert len(errors) == 3


def test_density_from_count_and_area_when_the_edge_sends_no_density() -> None:
    st, acts = crowd_step(
        CrowdState(),
        {"peopleCount": 300},
        zone=ZONE,
        t_ms=0,
        p=CrowdParams(zone_area=100.0, los_min_s=0),
    )
    assert acts == [AlertRaise(ZONE, "crowdLevel", "Extreme", dict(st.figures))]
    assert dict(st.figures)["levelOfService"] == "F"


def test_rate_of_rise_over_the_window() -> None:
    p = CrowdParams(zone_area=100.0, rise_per_min=0.5, rise_window_s=60, rise_min_s=0)
    # +0.1 persons/m² per 5 s = 1.2 /min: raised once half a window is covered
    rising = run([0.1 + 0.1 * i for i in range(8)], p=p)
    kinds = [(t, a.kind, getattr(a, "severity", None)) for t, a in rising]
    assert (30, "crowdRising", "Moderate") in kinds
    # a steady crowd, even a dense one, is not rising
    assert not [a for _, a in run([1.0] * 20, p=p) if a.kind == "crowdRising"]


def test_rising_is_severe_during_egress() -> None:
    p = CrowdParams(zone_area=100.0, rise_per_min=0.5, rise_window_s=60, rise_min_s=0)
    egress = Phase("egress", datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 2, tzinfo=UTC))
    acts = run([0.1 + 0.1 * i for i in range(8)], p=p, phase=egress)
    rises = [a for _, a in acts if a.kind == "crowdRising"]
    assert rises
    assert isinstance(rises[0], AlertRaise)
    assert rises[0].severity == "Severe"


def test_occupancy_over_capacity_raises_and_clears() -> None:
    p = CrowdParams(capacity=100.0, over_min_s=10, over_off_s=10)
    st, got = CrowdState(), []
    for i, count in enumerate([90, 110, 110, 110, 95, 85, 85, 85]):
        st, acts = crowd_step(st, {"peopleCount": count}, zone=ZONE, t_ms=i * 5000, p=p)
        got += [(i * 5, type(a).__name__) for a in acts if a.kind == "crowdOverCapacity"]
    # raised after 10 s over (from 5 s); 95 % is inside the band; cleared 10 s under 90 %
    assert got == [(15, "AlertRaise"), (35, "AlertClear")]


def test_phase_tightens_thresholds_and_shortens_durations() -> None:
    strict = Phase(
        "egress",
        datetime(2026, 6, 1, tzinfo=UTC),
        datetime(2026, 6, 2, tzinfo=UTC),
        Tightening(threshold_factor=0.8, duration_factor=0.5),
    )
    # 0.9 is D normally; with 0.8 x 1.08 = 0.864 it is E, and 10 s suffice instead of 20
    assert levels(run([0.9] * 6)) == []
    assert levels(run([0.9] * 6, phase=strict)) == [(10, "Severe")]


def test_blind_zone_only_during_an_event() -> None:
    p = CrowdParams(blind_min_s=30)
    event = Phase("event", datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 2, tzinfo=UTC))
    st, got = CrowdState(), list[tuple[int, AlertAction]]()
    for i in range(8):
        st, acts = crowd_step(st, None, zone=ZONE, t_ms=i * 10_000, p=p, blind=True)
        got += [(i * 10, a) for a in acts]
    assert got == []  # blind, but no event: nothing to see
    for i in range(8, 14):
        st, acts = crowd_step(st, None, zone=ZONE, t_ms=i * 10_000, p=p, blind=True, phase=event)
        got += [(i * 10, a) for a in acts]
    assert got == [(110, AlertRaise(ZONE, "zoneBlind", "Severe", {}))]
    st, acts = crowd_step(st, None, zone=ZONE, t_ms=200_000, p=p, blind=False, phase=event)
    st, acts2 = crowd_step(st, None, zone=ZONE, t_ms=210_000, p=p, blind=False, phase=event)
    assert [*acts, *acts2] == [AlertClear(ZONE, "zoneBlind")]


def test_state_survives_the_rule_state_codec() -> None:
    st = CrowdState()
    for i in range(4):
        st, _ = crowd_step(st, {"peopleDensity": 1.2 + i / 10}, zone=ZONE, t_ms=i * 5000, p=P)
    assert load(CrowdState, dump(st)) == st


@pytest.mark.parametrize("bad", [float("nan"), -1.0, float("inf"), True, "many"])
def test_bad_figures_are_ignored(bad: object) -> None:
    st, acts = crowd_step(CrowdState(), {"peopleDensity": bad}, zone=ZONE, t_ms=0, p=P)  # type: ignore[dict-item]
    assert acts == []
    assert "peopleDensity" not in dict(st.figures)


# ---- event times in Stockholm across daylight-saving changes ------------------------------
def test_spring_forward_skipped_hour_is_refused_and_durations_count_real_time() -> None:
    with pytest.raises(ValueError, match="does not exist"):
        local_time(datetime.fromisoformat("2026-03-29T02:30:00"))
    start = local_time(datetime.fromisoformat("2026-03-29T01:30:00"))  # CET, 00:30 UTC
    end = local_time(datetime.fromisoformat("2026-03-29T03:30:00"))  # CEST, 01:30 UTC
    assert end - start == timedelta(hours=1)
    egress = Phase("egress", start, end, Tightening(duration_factor=0.5))
    # readings every 5 s from 01:55 local over the jump: held 10 s of real time, not 1 h
    t0 = int(local_time(datetime.fromisoformat("2026-03-29T01:59:55")).timestamp() * 1000)
    assert levels(run([1.2] * 4, phase=egress, t0_ms=t0)) == [(10, "Severe")]


def test_fall_back_repeated_hour_needs_an_offset_and_phases_last_real_time() -> None:
    with pytest.raises(ValueError, match="happens twice"):
        local_time(datetime.fromisoformat("2026-10-25T02:30:00"))
    first = local_time(datetime.fromisoformat("2026-10-25T02:30:00+02:00"))
    second = local_time(datetime.fromisoformat("2026-10-25T02:30:00+01:00"))
    assert second - first == timedelta(hours=1)
    start = local_time(datetime.fromisoformat("2026-10-25T01:30:00"))
    end = local_time(datetime.fromisoformat("2026-10-25T03:30:00"))
    assert end - start == timedelta(hours=3)
    ev = Event("night-run", "arena", (ZONE,), 1000, (Phase("event", start, end),))
    inside = datetime(2026, 10, 25, 1, 45, tzinfo=UTC)  # 02:45 CET, the repeated hour
    assert running([ev], inside)[ZONE].phase.name == "event"
    assert running([ev], end) == {}


def test_event_validation() -> None:
    t = datetime(2026, 6, 1, 18, tzinfo=UTC)
    a = Phase("ingress", t, t + timedelta(hours=2))
    b = Phase("event", t + timedelta(hours=1), t + timedelta(hours=3))
    with pytest.raises(ValueError, match="overlap"):
        Event("match", "arena", (ZONE,), 50_000, (a, b))
    with pytest.raises(ValueError, match="no zones"):
        Event("match", "arena", (), 50_000, (a,))
    with pytest.raises(ValueError, match="threshold_factor"):
        Tightening(threshold_factor=1.5)
