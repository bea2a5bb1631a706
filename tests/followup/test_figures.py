"""Follow-up figures from constructed histories, across the spring DST change."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.followup.figures import (
    TicketFacts,
    camera_fault_hours,
    graffiti_within_24h,
    repairs,
    report,
)
from hub.followup.hours import HOUR_MS, AssetInfo, HourRow, Obs, asset_hours
from hub.followup.periods import parse_period
from hub.followup.ranks import nearest_rank
from trygg.sun import is_dark

LAT, LON = 59.36, 18.0
MIN = 60_000
MARCH = parse_period("2026-03")  # Stockholm goes to summer time on 29 March


def _always_on(asset: str, start: int, end: int, gap: tuple[int, int] | None = None) -> list[Obs]:
    out: list[Obs] = []
    for t in range(start - 10 * MIN, end, 10 * MIN):
        if gap and gap[0] <= t < gap[1]:
            continue
        out += [Obs(t, "powerState", "on"), Obs(t, "activePower", 0.05)]
    return out


def _dark_seconds(start: int, end: int) -> float:
    """Independent count: minutes in which the sun at the pole is below civil twilight."""
    return 60.0 * sum(
        1
        for t in range(start, end, MIN)
        if is_dark(LAT, LON, datetime.fromtimestamp(t / 1000, UTC))
    )


@pytest.fixture(scope="module")
def march_rows() -> list[HourRow]:
    start, end = MARCH.start_ms, MARCH.end_ms
    outage = (start + 10 * 24 * HOUR_MS, start + 12 * 24 * HOUR_MS)
    good = AssetInfo("lamp-a", "streetlight", "centrum", LAT, LON)
    bad = AssetInfo("lamp-b", "streetlight", "centrum", LAT, LON)
    return asset_hours(good, _always_on("lamp-a", start, end), start_ms=start, end_ms=end) + (
        asset_hours(bad, _always_on("lamp-b", start, end, outage), start_ms=start, end_ms=end)
    )


def test_a_dst_month_has_743_lamp_hours_per_lamp(march_rows: list[HourRow]) -> None:
    per_lamp = sum(r.seconds for r in march_rows if r.asset == "lamp-a" and r.field == "lamp")
    assert per_lamp == pytest.approx(743 * 3600.0)
    assert report(MARCH, march_rows, []).current.hours == 743


def test_lamp_availability_matches_the_known_outage(march_rows: list[HourRow]) -> None:
    start, end = MARCH.start_ms, MARCH.end_ms
    dark = _dark_seconds(start, end)
    # lamp-b is silent for two days; its last reading holds 25 minutes (2.5 x the 10-min gap)
    out_start = start + 10 * 24 * HOUR_MS - 10 * MIN + 25 * MIN
    lost = _dark_seconds(out_start, start + 12 * 24 * HOUR_MS)
    fig = report(MARCH, march_rows, []).current.lighting
    assert fig.lamps == 2
    assert fig.availability == pytest.approx(1 - lost / (2 * dark), abs=1e-4)
    assert fig.dark_lamp_hours == pytest.approx(lost / 3600.0, abs=0.05)
    lit_day = 2 * (743 * 3600.0 - dark) - (2 * 24 * 3600.0 - 15 * 60 - lost)
    assert fig.day_burning_hours == pytest.approx(lit_day / 3600.0, abs=0.05)
    assert fig.wasted_kwh == pytest.approx(0.05 * lit_day / 3600.0, rel=1e-3)


def test_previous_period_is_beside_and_empty_when_no_history(march_rows: list[HourRow]) -> None:
    r = report(MARCH, march_rows, [])
    assert r.previous.period == "2026-02"
    assert r.previous.hours == 28 * 24
    assert r.previous.lighting.availability is None
    assert r.previous.lighting.lamps == 0


def test_place_filter_keeps_only_its_assets(march_rows: list[HourRow]) -> None:
    only_a = report(MARCH, march_rows, [], place="a", assets=frozenset({"lamp-a"}))
    assert only_a.current.lighting.lamps == 1
    assert only_a.current.lighting.availability == pytest.approx(1.0)
    assert only_a.current.availability == {"streetlight": pytest.approx(1.0)}


def _ticket(
    i: int,
    kind: str,
    opened: int,
    ack_h: float | None,
    fix_h: float | None,
    sla_h: float = 48,
    reopened: int = 0,
) -> TicketFacts:
    return TicketFacts(
        id=i,
        kind=kind,
        asset=f"a{i}",
        site="centrum",
        created_ms=opened,
        acknowledged_ms=None if ack_h is None else opened + int(ack_h * HOUR_MS),
        resolved_ms=None if fix_h is None else opened + int(fix_h * HOUR_MS),
        sla_due_ms=opened + int(sla_h * HOUR_MS),
        reopened=reopened,
    )


def test_repairs_per_kind_with_median_p90_sla_and_reopened() -> None:
    t0 = MARCH.start_ms + HOUR_MS
    fixes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 100]
    ts = [_ticket(i, "lampOut", t0 + i * HOUR_MS, 0.5 * (i + 1), h) for i, h in enumerate(fixes)]
    ts += [_ticket(20, "lampOut", t0, 1, None, reopened=1)]
    ts += [_ticket(21, "lampOut", MARCH.start_ms - HOUR_MS, 1, 2)]  # February's
    (lamp,) = repairs(ts, start_ms=MARCH.start_ms, end_ms=MARCH.end_ms)
    assert (lamp.kind, lamp.opened, lamp.resolved, lamp.reopened) == ("lampOut", 11, 10, 1)
    assert lamp.repair_median_h == pytest.approx(5.0)
    assert lamp.repair_p90_h == pytest.approx(9.0)
    assert lamp.ack_median_h == pytest.approx(2.5)  # 6th of 0.5, 1 (ticket 20), 1, 1.5, ... 5
    assert lamp.within_sla == pytest.approx(0.9)


def test_graffiti_within_24h_share() -> None:
    t0 = MARCH.start_ms
    ts = [
        _ticket(1, "graffiti", t0, 1, 5),
        _ticket(2, "graffiti", t0, 1, 30),
        _ticket(3, "graffiti", t0, 1, None),
    ]
    ts += [_ticket(4, "lampOut", t0, 1, 50)]
    assert graffiti_within_24h(ts, start_ms=t0, end_ms=MARCH.end_ms) == pytest.approx(1 / 3)
    assert graffiti_within_24h([], start_ms=t0, end_ms=MARCH.end_ms) is None


def test_bins_and_cameras() -> None:
    h = MARCH.start_ms
    rows = [
        HourRow("b", "bin", "s", h, "bin", "full", seconds=1800.0),
        HourRow("b", "bin", "s", h, "bin", "notFull", seconds=1800.0),
        HourRow("b", "bin", "s", h, "event", "collection", count=2),
        HourRow("b", "bin", "s", h, "event", "fire", count=1),
        HourRow("c", "camera", "s", h, "camera", "healthy", seconds=2700.0),
        HourRow("c", "camera", "s", h, "camera", "degraded", seconds=900.0),
        HourRow("c", "camera", "s", MARCH.end_ms, "camera", "degraded", seconds=3600.0),
    ]
    cur = report(MARCH, rows, []).current
    assert (cur.bins.bins, cur.bins.hours_full, cur.bins.fires, cur.bins.collections) == (
        1,
        0.5,
        1,
        2,
    )
    assert cur.camera_availability == pytest.approx(0.75)


def test_nearest_rank() -> None:
    assert nearest_rank([], 0.5) is None
    assert nearest_rank([3.0, 1.0, 2.0], 0.5) == 2.0
    assert nearest_rank([float(i) for i in range(1, 11)], 0.9) == 9.0


def test_camera_hours_covered_blurred_and_turned_away_from_their_tickets() -> None:
    t0 = MARCH.start_ms
    ts = [
        _ticket(1, "cameraBlurred", t0 + 2 * HOUR_MS, 1, 3),  # 3 h inside
        _ticket(2, "cameraBlurred", t0 - 2 * HOUR_MS, 1, 5),  # opened in February: 3 h inside
        _ticket(3, "cameraDisplaced", MARCH.end_ms - 4 * HOUR_MS, 1, None),  # open at the end
        _ticket(4, "cameraFrozen", t0, 1, 10),  # not one of the three
        _ticket(5, "cameraCovered", MARCH.end_ms + HOUR_MS, 1, 1),  # April's
    ]
    hours = camera_fault_hours(ts, start_ms=t0, end_ms=MARCH.end_ms)
    assert hours == pytest.approx({"covered": 0.0, "blurred": 6.0, "turned_away": 4.0})
    march = report(MARCH, [], ts).current
    assert march.camera_fault_hours == pytest.approx(hours)
