"""Event and crowd figures: pure, then read back from SQLite and PostgreSQL by build_report."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from hub.alerts.model import AlertRaise
from hub.alerts.schedule import Event, Phase
from hub.alerts.store import Where, apply, save_event, step
from hub.db import Asset, open_database
from hub.devices import register
from hub.followup.crowds import AlertFacts, EventFacts, alert_figures, events_held, zone_service
from hub.followup.hours import HOUR_MS, HourRow
from hub.followup.load import build_report
from hub.followup.pdf import to_pdf
from hub.followup.periods import parse_period
from hub.followup.render import to_csv, to_html
from hub.followup.store import replace_hours
from hub.places import make_place
from hub.places_store import save_places

MARCH = parse_period("2026-03")
FEB = MARCH.previous()
MIN = 60_000
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[18.0, 59.36], [18.01, 59.36], [18.01, 59.37], [18.0, 59.37], [18.0, 59.36]]],
}


def _ev(name: str, start: int, end: int, zones: tuple[str, ...] = ("z",)) -> EventFacts:
    return EventFacts(name, "Torget", zones, start, end, 1000)


def test_events_held_are_those_overlapping_the_period() -> None:
    s, e = MARCH.start_ms, MARCH.end_ms
    events = [
        _ev("before", s - 2 * HOUR_MS, s),  # ends as the period starts
        _ev("across", s - HOUR_MS, s + HOUR_MS),
        _ev("inside", s + 5 * HOUR_MS, s + 6 * HOUR_MS),
        _ev("after", e, e + HOUR_MS),  # starts as the period ends
    ]
    held = events_held(events, start_ms=s, end_ms=e)
    assert [h.name for h in held] == ["across", "inside"]
    # 1 March 2026 00:00 Stockholm is 28 Feb 23:00 UTC, so "across" starts at 22:00 UTC.
    assert held[0].start == "2026-02-28T23:00+01:00"


def test_minutes_at_e_and_f_per_zone() -> None:
    h = MARCH.start_ms
    rows = [
        HourRow("z1", "crowd", "s", h, "levelOfService", "E", seconds=600.0),
        HourRow("z1", "crowd", "s", h + HOUR_MS, "levelOfService", "E", seconds=90.5),
        HourRow("z1", "crowd", "s", h, "levelOfService", "F", seconds=120.0),
        HourRow("z1", "crowd", "s", h, "levelOfService", "C", seconds=2880.0),
        HourRow("z2", "crowd", "s", h, "levelOfService", "A", seconds=3600.0),
        HourRow("z2", "crowd", "s", h, "levelOfServiceQueue", "F", seconds=3600.0),
        HourRow("lamp", "streetlight", "s", h, "lamp", "litDark", seconds=3600.0),
    ]
    zones = {z.zone: z for z in zone_service(rows)}
    assert set(zones) == {"z1", "z2"}
    assert zones["z1"].minutes_e == pytest.approx(690.5 / 60)
    assert zones["z1"].minutes_f == 2.0
    assert (zones["z2"].minutes_e, zones["z2"].minutes_f) == (0.0, 0.0)


def test_alerts_per_kind_with_acknowledge_times() -> None:
    s = MARCH.start_ms
    alerts = [
        AlertFacts(i, "crowdLevel", "z", None, s + i * HOUR_MS, s + i * HOUR_MS + m * MIN)
        for i, m in enumerate([4, 1, 9, 2, 30], start=1)
    ]
    alerts += [
        AlertFacts(10, "binFire", "b", None, s + HOUR_MS),  # never acknowledged
        AlertFacts(11, "crowdLevel", "z", None, s - HOUR_MS, s),  # raised before the period
    ]
    figs = {a.kind: a for a in alert_figures(alerts, start_ms=s, end_ms=MARCH.end_ms)}
    assert figs["crowdLevel"].raised == 5
    assert figs["crowdLevel"].ack_median_min == 4.0
    assert figs["crowdLevel"].ack_p90_min == 30.0
    assert (figs["binFire"].raised, figs["binFire"].acknowledged) == (1, 0)
    assert figs["binFire"].ack_median_min is None


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _event(name: str, start_ms: int, zones: tuple[str, ...], place: str = "Torget") -> Event:
    return Event(
        name=name,
        place=place,
        zones=zones,
        expected_attendance=5000,
        phases=(Phase("event", _at(start_ms), _at(start_ms + 3 * HOUR_MS)),),
    )


def test_the_report_reads_events_crowds_and_alerts_from_sql(sql_url: str) -> None:
    sessions = open_database(sql_url)
    register(sessions, [("pi-1", "centrum")])
    m, f = MARCH.start_ms + 10 * 24 * HOUR_MS, FEB.start_ms + 3 * 24 * HOUR_MS
    now = _at(MARCH.end_ms)
    with sessions.begin() as s:
        s.add(Asset(id="zin", device_id="pi-1", kind="crowd", lat=59.365, lon=18.005))
        s.add(Asset(id="zout", device_id="pi-1", kind="crowd", lat=59.5, lon=18.5))
        save_places(s, [make_place("Torget", "square", SQUARE)], now=now)
        for h, e_s, f_s in ((m, 1800.0, 300.0), (f, 600.0, 0.0)):
            rows = [
                HourRow("zin", "crowd", "centrum", h, "levelOfService", "E", seconds=e_s),
                HourRow("zin", "crowd", "centrum", h, "levelOfService", "F", seconds=f_s),
                HourRow("zout", "crowd", "centrum", h, "levelOfService", "F", seconds=3600.0),
            ]
            replace_hours(s, start_ms=h, end_ms=h + HOUR_MS, rows=rows)
        save_event(s, _event("Derby", m, ("zin",)), now=now)
        save_event(s, _event("Vårmarknad", f, ("zin",)), now=now)
        save_event(s, _event("Konsert", m, ("zout",), place="Arenan"), now=now)
    where = {"zin": Where("Torget", "Derby"), "zout": Where("Arenan", "Konsert")}
    for raised, ack_min, zone in ((m, 3, "zin"), (m + HOUR_MS, 7, "zin"), (f, 12, "zin"),
                                  (m, 1, "zout")):  # fmt: skip
        with sessions.begin() as s:
            (a,) = apply(
                s, [AlertRaise(zone, "crowdLevel", "Severe")], now=_at(raised), where=where
            )
            step(s, a.id, "acknowledge", now=_at(raised + ack_min * MIN), by="op")
            step(s, a.id, "resolve", now=_at(raised + 30 * MIN), by="op")

    with sessions() as s:
        city = build_report(s, MARCH)
        torget = build_report(s, MARCH, place="Torget")
    sessions.kw["bind"].dispose()

    assert [e.name for e in city.current.crowds.events] == ["Derby", "Konsert"]
    assert [e.name for e in torget.current.crowds.events] == ["Derby"]
    assert [e.name for e in torget.previous.crowds.events] == ["Vårmarknad"]
    (crowded,) = torget.current.crowds.zones
    assert (crowded.zone, crowded.minutes_e, crowded.minutes_f) == ("zin", 30.0, 5.0)
    (before,) = torget.previous.crowds.zones
    assert (before.minutes_e, before.minutes_f) == (10.0, 0.0)
    (alerts,) = torget.current.crowds.alerts
    assert (alerts.raised, alerts.acknowledged) == (2, 2)
    assert (alerts.ack_median_min, alerts.ack_p90_min) == (3.0, 7.0)
    assert torget.previous.crowds.alerts[0].ack_median_min == 12.0
    assert city.current.crowds.alerts[0].raised == 3
    assert {z.zone for z in city.current.crowds.zones} == {"zin", "zout"}

    lines = list(csv.reader(io.StringIO(to_csv(torget, "en"))))
    assert ["crowds", "Minutes at level of service E: zin", "30.0", "10.0"] in lines
    assert ["alerts", "crowdLevel", "2026-03", "2", "2", "3.0", "7.0"] in lines
    assert any(r[:4] == ["events", "Derby", "2026-03", "Torget"] for r in lines)
    page = to_html(torget, "sv")
    assert "Vårmarknad" in page
    assert "Minuter på servicenivå F: zin" in page
    assert to_pdf(torget, "sv").startswith(b"%PDF-")


def test_an_event_on_the_period_edge_in_sql_is_not_held(sql_url: str) -> None:
    sessions = open_database(sql_url)
    with sessions.begin() as s:
        ends_at_start = _event("Natt", MARCH.start_ms - 3 * HOUR_MS, ("z",))
        save_event(s, ends_at_start, now=_at(MARCH.start_ms))
    with sessions() as s:
        r = build_report(s, MARCH)
    sessions.kw["bind"].dispose()
    assert r.current.crowds.events == ()
    assert [e.name for e in r.previous.crowds.events] == ["Natt"]
