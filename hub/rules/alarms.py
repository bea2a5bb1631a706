"""Alarms -> tickets: the database side of the rules (raise, bump, clear, hold, reopen).

An alarm is a condition, one active per asset and alarm type (a partial unique index
enforces it). Raising an alarm that is already active bumps its count and its ticket's,
never a second ticket. A cleared alarm does not resolve its ticket at once: the ticket is
held for ``hold`` and resolved by :func:`resolve_held` only if the fault stayed away, so a
fault that flaps back within the hold continues the same ticket; one that returns after
the ticket was resolved, within :data:`REOPEN_WINDOW`, reopens it. An alarm raised while
its root cause (a dark cabinet, an offline device) is active is recorded but *suppressed*:
no ticket; when the root clears, an alarm still active after a settle time gets its own
ticket (:func:`release_suppressed`, :func:`settle_released`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import tickets as service
from hub.db import Alarm, Ticket
from hub.rules.actions import Severity

REOPEN_WINDOW: Final = timedelta(hours=24)
ACTOR: Final = "rules"


@dataclass(frozen=True, slots=True)
class Place:
    lat: float | None
    lon: float | None
    address: str | None = None
    device_id: str | None = None


@dataclass(frozen=True, slots=True)
class AlarmOutcome:
    ticket_id: int | None
    created: bool = False
    reopened: bool = False
    bumped: bool = False
    suppressed: bool = False


def _active(s: Session, asset_id: str, alarm_type: str) -> Alarm | None:
    q = select(Alarm).where(
        Alarm.asset_id == asset_id, Alarm.type == alarm_type, Alarm.active.is_(True)
    )
    return s.scalars(q).first()


def _evidence(ticket: Ticket, now: datetime, details: dict[str, Any]) -> None:
    evidence = dict(ticket.evidence or {})
    readings = [*evidence.get("readings", []), {"at": now.isoformat(), **details}]
    evidence["readings"] = readings[-service.MAX_EVIDENCE :]
    ticket.evidence = evidence  # a new object, so the JSON column is written


def _attach(
    s: Session,
    alarm: Alarm,
    *,
    severity: Severity,
    now: datetime,
    details: dict[str, Any],
    place: Place | None,
) -> AlarmOutcome:
    """Give an unsuppressed active alarm its ticket: the open one, a recent one, or new."""
    open_ticket = s.scalars(
        select(Ticket)
        .where(
            Ticket.asset_id == alarm.asset_id,
            Ticket.kind == alarm.type,
            Ticket.status.in_(sorted(service.OPEN_STATUSES)),
        )
        .order_by(Ticket.id.desc())
    ).first()
    if open_ticket is not None:
        alarm.ticket_id = open_ticket.id
        open_ticket.alarm_count += 1
        open_ticket.updated_at = now
        note = "fault returned within the hold time" if open_ticket.hold_until else "repeat"
        open_ticket.hold_until = None
        _evidence(open_ticket, now, details)
        service.record(
            s, open_ticket, at=now, actor=ACTOR, action="bump", before=open_ticket.status, note=note
        )
        return AlarmOutcome(open_ticket.id, bumped=True)
    recent = s.scalars(
        select(Ticket)
        .where(
            Ticket.asset_id == alarm.asset_id,
            Ticket.kind == alarm.type,
            Ticket.status.in_(("resolved", "closed")),
            Ticket.resolved_at >= now - REOPEN_WINDOW,
        )
        .order_by(Ticket.id.desc())
    ).first()
    if recent is not None:
        before = recent.status
        recent.status, recent.updated_at = "reopened", now
        recent.resolved_at = recent.closed_at = recent.hold_until = None
        recent.reopen_count += 1
        recent.alarm_count += 1
        _evidence(recent, now, details)
        service.record(
            s, recent, at=now, actor=ACTOR, action="reopen", before=before, note="fault returned"
        )
        alarm.ticket_id = recent.id
        return AlarmOutcome(recent.id, reopened=True)
    where = place or Place(None, None)
    ticket = service.new_ticket(
        s,
        kind=alarm.type,
        severity=severity,
        now=now,
        actor=ACTOR,
        source="rule",
        lat=where.lat,
        lon=where.lon,
        address=where.address,
        asset_id=alarm.asset_id,
        device_id=where.device_id,
        evidence={"alarm": alarm.type, "readings": [{"at": now.isoformat(), **details}]},
    )
    alarm.ticket_id = ticket.id
    return AlarmOutcome(ticket.id, created=True)


def raise_alarm(
    s: Session,
    *,
    asset_id: str,
    alarm_type: str,
    severity: Severity,
    now: datetime,
    details: dict[str, Any] | None = None,
    place: Place | None = None,
    suppressed_by: str | None = None,
) -> AlarmOutcome:
    """Open the alarm (and its ticket unless suppressed), or bump the active one."""
    details = dict(details or {})
    alarm = _active(s, asset_id, alarm_type)
    if alarm is not None:
        alarm.count += 1
        alarm.last_at = now
        ticket = s.get(Ticket, alarm.ticket_id) if alarm.ticket_id else None
        if ticket is not None and ticket.status in service.OPEN_STATUSES:
            ticket.alarm_count += 1
            ticket.updated_at = now
            _evidence(ticket, now, details)
            service.record(
                s,
                ticket,
                at=now,
                actor=ACTOR,
                action="bump",
                before=ticket.status,
                note=f"repeat #{alarm.count}",
            )
        return AlarmOutcome(alarm.ticket_id, bumped=True)
    alarm = Alarm(
        asset_id=asset_id,
        type=alarm_type,
        severity=severity,
        active=True,
        acknowledged=False,
        count=1,
        first_at=now,
        last_at=now,
        details=details,
        suppressed_by=suppressed_by,
    )
    s.add(alarm)
    s.flush()
    if suppressed_by is not None:
        return AlarmOutcome(None, suppressed=True)
    return _attach(s, alarm, severity=severity, now=now, details=details, place=place)


def clear_alarm(
    s: Session, *, asset_id: str, alarm_type: str, now: datetime, hold: timedelta
) -> int | None:
    """End the active alarm; its open ticket resolves after ``hold`` unless it returns."""
    alarm = _active(s, asset_id, alarm_type)
    if alarm is None:
        return None
    alarm.active, alarm.cleared_at = False, now
    ticket = s.get(Ticket, alarm.ticket_id) if alarm.ticket_id else None
    if ticket is None or ticket.status not in service.OPEN_STATUSES:
        return alarm.ticket_id
    ticket.hold_until, ticket.updated_at = now + hold, now
    service.record(
        s,
        ticket,
        at=now,
        actor=ACTOR,
        action="clear",
        before=ticket.status,
        note=f"condition cleared; resolves at {ticket.hold_until.isoformat()} unless it returns",
    )
    if hold <= timedelta(0):
        resolve_held(s, now=now)
    return ticket.id


def resolve_held(s: Session, *, now: datetime) -> list[int]:
    """Resolve open tickets whose hold has passed and whose alarms are all still clear."""
    resolved: list[int] = []
    due = select(Ticket).where(Ticket.hold_until.is_not(None), Ticket.hold_until <= now)
    for ticket in s.scalars(due.order_by(Ticket.id)).all():
        ticket.hold_until = None
        active = s.scalars(
            select(Alarm.id).where(Alarm.ticket_id == ticket.id, Alarm.active.is_(True))
        ).first()
        if active is not None or ticket.status not in service.OPEN_STATUSES:
            continue
        before = ticket.status
        ticket.status, ticket.resolved_at, ticket.updated_at = "resolved", now, now
        service.record(
            s,
            ticket,
            at=now,
            actor=ACTOR,
            action="auto_resolve",
            before=before,
            note="condition stayed clear for the hold time",
        )
        resolved.append(ticket.id)
    return resolved


SETTLING: Final = "settling:"


def release_suppressed(s: Session, *, root: str, now: datetime, settle: timedelta) -> int:
    """The root cause ``root`` ("type:asset") cleared. The alarms it hid get ``settle`` to
    clear by themselves (the lamps light up again, the device's sensors report again);
    :func:`settle_released` gives those still active after it a ticket. Returns how many."""
    q = select(Alarm).where(Alarm.suppressed_by == root, Alarm.active.is_(True))
    hidden = s.scalars(q.order_by(Alarm.id)).all()
    for alarm in hidden:
        alarm.suppressed_by = f"{SETTLING}{(now + settle).isoformat()}"
    return len(hidden)


def settle_released(s: Session, *, now: datetime, places: dict[str, Place]) -> list[int]:
    """Tickets for released alarms that are still active after their settle time: they are
    faults of their own, not of the root cause. Returns the ticket ids."""
    out: list[int] = []
    q = select(Alarm).where(Alarm.suppressed_by.like(f"{SETTLING}%"), Alarm.active.is_(True))
    for alarm in s.scalars(q.order_by(Alarm.id)).all():
        due = datetime.fromisoformat((alarm.suppressed_by or "")[len(SETTLING) :])
        if due > now:
            continue
        alarm.suppressed_by = None
        outcome = _attach(
            s,
            alarm,
            severity=alarm.severity,  # type: ignore[arg-type]
            now=now,
            details={**alarm.details, "afterRootCause": True},
            place=places.get(alarm.asset_id),
        )
        if outcome.ticket_id is not None:
            out.append(outcome.ticket_id)
    return out
