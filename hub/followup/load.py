"""Read what a report needs from the hub database: stored hours and ticket facts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.db import Device, Ticket
from hub.followup.figures import Report, TicketFacts, report
from hub.followup.periods import Period
from hub.followup.store import load_hours
from hub.places_store import get_place, place_assets
from trygg.clock import from_ms, to_ms


def ticket_facts(s: Session, *, start_ms: int, end_ms: int) -> list[TicketFacts]:
    """Tickets opened in ``[start_ms, end_ms)`` (duplicates excluded)."""
    q = (
        select(Ticket, Device.site)
        .outerjoin(Device, Device.id == Ticket.device_id)
        .where(
            Ticket.created_at >= from_ms(start_ms),
            Ticket.created_at < from_ms(end_ms),
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


def build_report(s: Session, period: Period, *, place: str | None = None) -> Report:
    """The period's figures with the previous period's, for the whole city or one place
    (PlaceError if there is no such place)."""
    prev = period.previous()
    rows = load_hours(s, start_ms=prev.start_ms, end_ms=period.end_ms)
    tickets = ticket_facts(s, start_ms=prev.start_ms, end_ms=period.end_ms)
    if place is None:
        return report(period, rows, tickets)
    p = get_place(s, place)
    return report(period, rows, tickets, place=p.name, assets=place_assets(s, p))
