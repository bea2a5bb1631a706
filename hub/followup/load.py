"""Read what a report needs from the hub database: stored state sums and ticket facts."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.alerts.store import events as stored_events
from hub.alerts.tables import AlertRow
from hub.db import Device, Ticket
from hub.followup.crowds import AlertFacts, EventFacts
from hub.followup.figures import Report, TicketFacts, report
from hub.followup.grain import plan
from hub.followup.hours import HourRow
from hub.followup.periods import Period
from hub.followup.rollup import marks
from hub.followup.spans import DAY, MONTH, sum_hours, sum_spans
from hub.places_store import get_place, place_assets
from trygg.clock import from_ms, to_ms


def ticket_facts(
    s: Session, *, start_ms: int, end_ms: int, by: Literal["created", "resolved"] = "created"
) -> list[TicketFacts]:
    """Tickets opened (or, ``by="resolved"``, resolved) in ``[start_ms, end_ms)``,
    duplicates excluded, with their device's site."""
    column = Ticket.created_at if by == "created" else Ticket.resolved_at
    q = (
        select(Ticket, Device.site)
        .outerjoin(Device, Device.id == Ticket.device_id)
        .where(
            column >= from_ms(start_ms),
            column < from_ms(end_ms),
            Ticket.duplicate_of.is_(None),
        )
    )
    return [
        TicketFacts(
            id=t.id,
            kind=t.kind,
            asset=t.asset_id,
            site=site,
            created_ms=to_ms(t.created_at),
            acknowledged_ms=to_ms(t.acknowledged_at) if t.acknowledged_at else None,
            resolved_ms=to_ms(t.resolved_at) if t.resolved_at else None,
            sla_due_ms=to_ms(t.sla_due) if t.sla_due else None,
            reopened=t.reopen_count,
        )
        for t, site in s.execute(q)
    ]


def event_facts(s: Session, *, start_ms: int, end_ms: int) -> list[EventFacts]:
    """Events whose phases overlap ``[start_ms, end_ms)``."""
    out: list[EventFacts] = []
    for ev in stored_events(s):
        first = min(to_ms(p.start) for p in ev.phases)
        last = max(to_ms(p.end) for p in ev.phases)
        if first < end_ms and last > start_ms:
            out.append(EventFacts(ev.name, ev.place, ev.zones, first, last, ev.expected_attendance))
    return out


def alert_facts(s: Session, *, start_ms: int, end_ms: int) -> list[AlertFacts]:
    """Alerts raised in ``[start_ms, end_ms)``."""
    q = select(AlertRow).where(
        AlertRow.raised_at >= from_ms(start_ms), AlertRow.raised_at < from_ms(end_ms)
    )
    return [
        AlertFacts(
            id=a.id,
            kind=a.kind,
            zone=a.zone,
            place=a.place,
            raised_ms=to_ms(a.raised_at),
            acknowledged_ms=to_ms(a.acknowledged_at) if a.acknowledged_at else None,
        )
        for a in s.scalars(q)
    ]


def period_sums(s: Session, period: Period) -> list[HourRow]:
    """Per asset, field and value, the period's sums (rows dated at its start), read from
    month rows, day rows and hours, each where it covers the period exactly."""
    days_until, months_until = marks(s)
    p = plan(period.first, period.last, days_until=days_until, months_until=months_until)
    at = period.start_ms
    rows: list[HourRow] = []
    if p.months:
        rows += sum_spans(s, span=MONTH, first=p.months[0], last=p.months[-1], at_ms=at)
    for first, last in p.days:
        rows += sum_spans(s, span=DAY, first=first, last=last, at_ms=at)
    if p.hours is not None:
        rows += sum_hours(s, start_ms=p.hours[0], end_ms=p.hours[1], at_ms=at)
    return rows


def build_report(s: Session, period: Period, *, place: str | None = None) -> Report:
    """The period's figures with the previous period's, for the whole city or one place
    (PlaceError if there is no such place)."""
    prev = period.previous()
    rows = period_sums(s, prev) + period_sums(s, period)
    start_ms, end_ms = prev.start_ms, period.end_ms
    tickets = ticket_facts(s, start_ms=start_ms, end_ms=end_ms)
    events = event_facts(s, start_ms=start_ms, end_ms=end_ms)
    alerts = alert_facts(s, start_ms=start_ms, end_ms=end_ms)
    if place is None:
        return report(period, rows, tickets, events=events, alerts=alerts)
    p = get_place(s, place)
    return report(
        period,
        rows,
        tickets,
        place=p.name,
        assets=place_assets(s, p),
        events=events,
        alerts=alerts,
    )
