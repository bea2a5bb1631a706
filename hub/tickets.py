"""Alarms and tickets: the service module the API and the rules use.

An alarm is a condition (one active per asset and alarm type); a ticket is crew work. A
repeat of an active alarm bumps its counter; a cleared alarm resolves its ticket; a fault
that returns within the reopen window reopens the same ticket. Every change is recorded in
the ticket's history. Invalid transitions raise :class:`TicketError` and change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.db import Alarm, Asset, Ticket, TicketHistory
from hub.rules.actions import Severity

REOPEN_WINDOW: Final = timedelta(hours=24)
STATUSES: Final = (
    "new",
    "acknowledged",
    "in_progress",
    "resolved",
    "closed",
    "duplicate",
    "reopened",
)
OPEN_STATUSES: Final = frozenset({"new", "acknowledged", "in_progress", "reopened"})
# action -> (allowed from, to)
TRANSITIONS: Final[dict[str, tuple[frozenset[str], str]]] = {
    "acknowledge": (frozenset({"new", "reopened"}), "acknowledged"),
    "start": (frozenset({"new", "acknowledged", "reopened"}), "in_progress"),
    "resolve": (OPEN_STATUSES, "resolved"),
    "close": (frozenset({"resolved"}), "closed"),
    "reopen": (frozenset({"resolved", "closed"}), "reopened"),
    "duplicate": (OPEN_STATUSES, "duplicate"),
}
PRIORITY: Final[dict[str, int]] = {
    "critical": 1,
    "major": 2,
    "minor": 3,
    "warning": 4,
    "indeterminate": 5,
}
SLA: Final[dict[int, timedelta]] = {
    1: timedelta(hours=2),
    2: timedelta(hours=24),
    3: timedelta(days=3),
    4: timedelta(days=7),
    5: timedelta(days=14),
}
TITLES: Final[dict[str, str]] = {"lampOut": "Lamp out at night"}


class TicketError(ValueError):
    """An unknown ticket or a transition its status does not allow."""


@dataclass(frozen=True, slots=True)
class AlarmOutcome:
    ticket_id: int
    created: bool
    reopened: bool


def _history(
    s: Session,
    ticket: Ticket,
    *,
    at: datetime,
    actor: str,
    action: str,
    before: str | None,
    note: str = "",
) -> None:
    s.add(
        TicketHistory(
            ticket_id=ticket.id,
            at=at,
            actor=actor,
            action=action,
            from_status=before,
            to_status=ticket.status,
            note=note,
        )
    )


def raise_alarm(
    s: Session,
    *,
    asset_id: str,
    alarm_type: str,
    severity: Severity,
    now: datetime,
    details: dict[str, object] | None = None,
) -> AlarmOutcome:
    """Open an alarm and its ticket, or bump the active one, or reopen a recent ticket."""
    alarm = s.scalars(
        select(Alarm).where(
            Alarm.asset_id == asset_id, Alarm.type == alarm_type, Alarm.active.is_(True)
        )
    ).first()
    if alarm is not None and alarm.ticket_id is not None:
        alarm.count += 1
        alarm.last_at = now
        return AlarmOutcome(alarm.ticket_id, created=False, reopened=False)
    alarm = Alarm(
        asset_id=asset_id,
        type=alarm_type,
        severity=severity,
        active=True,
        count=1,
        first_at=now,
        last_at=now,
        details=dict(details or {}),
    )
    s.add(alarm)
    recent = s.scalars(
        select(Ticket)
        .where(
            Ticket.asset_id == asset_id,
            Ticket.kind == alarm_type,
            Ticket.status.in_(("resolved", "closed")),
            Ticket.resolved_at >= now - REOPEN_WINDOW,
        )
        .order_by(Ticket.id.desc())
    ).first()
    if recent is not None:
        before = recent.status
        recent.status, recent.updated_at, recent.resolved_at = "reopened", now, None
        recent.reopen_count += 1
        _history(s, recent, at=now, actor="rules", action="reopen", before=before)
        alarm.ticket_id = recent.id
        return AlarmOutcome(recent.id, created=False, reopened=True)
    asset = s.get(Asset, asset_id)
    priority = PRIORITY[severity]
    ticket = Ticket(
        kind=alarm_type,
        status="new",
        priority=priority,
        asset_id=asset_id,
        device_id=asset.device_id if asset else None,
        lat=asset.lat if asset else None,
        lon=asset.lon if asset else None,
        address=asset.address if asset else None,
        title=TITLES.get(alarm_type, alarm_type),
        source="rule",
        sla_due=now + SLA[priority],
        created_at=now,
        updated_at=now,
        evidence={"details": dict(details or {})},
    )
    s.add(ticket)
    s.flush()
    alarm.ticket_id = ticket.id
    _history(s, ticket, at=now, actor="rules", action="open", before=None)
    return AlarmOutcome(ticket.id, created=True, reopened=False)


def clear_alarm(s: Session, *, asset_id: str, alarm_type: str, now: datetime) -> int | None:
    """Clear the active alarm and resolve its ticket; returns the ticket id, if any."""
    alarm = s.scalars(
        select(Alarm).where(
            Alarm.asset_id == asset_id, Alarm.type == alarm_type, Alarm.active.is_(True)
        )
    ).first()
    if alarm is None:
        return None
    alarm.active, alarm.cleared_at = False, now
    ticket = s.get(Ticket, alarm.ticket_id) if alarm.ticket_id else None
    if ticket is not None and ticket.status in OPEN_STATUSES:
        before = ticket.status
        ticket.status, ticket.resolved_at, ticket.updated_at = "resolved", now, now
        _history(
            s,
            ticket,
            at=now,
            actor="rules",
            action="auto_resolve",
            before=before,
            note="condition cleared",
        )
    return alarm.ticket_id


def transition(
    s: Session, *, ticket_id: int, action: str, actor: str, now: datetime, note: str = ""
) -> Ticket:
    """Apply a crew action; TicketError for unknown tickets and disallowed transitions."""
    ticket = s.get(Ticket, ticket_id)
    if ticket is None:
        raise TicketError(f"no ticket {ticket_id}")
    if action not in TRANSITIONS:
        raise TicketError(f"unknown action {action!r}")
    allowed, target = TRANSITIONS[action]
    if ticket.status not in allowed:
        raise TicketError(f"cannot {action} a ticket that is {ticket.status}")
    before = ticket.status
    ticket.status, ticket.updated_at = target, now
    if target == "resolved":
        ticket.resolved_at = now
    if target == "closed":
        ticket.closed_at = now
    _history(s, ticket, at=now, actor=actor, action=action, before=before, note=note)
    return ticket


def list_tickets(
    s: Session,
    *,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Ticket]:
    q = select(Ticket).order_by(Ticket.priority, Ticket.created_at)
    if status is not None:
        q = q.where(Ticket.status == status)
    if kind is not None:
        q = q.where(Ticket.kind == kind)
    return list(s.scalars(q.limit(limit).offset(offset)))
