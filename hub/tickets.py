"""Tickets: the crews' work, and the service module the API and the rules build on.

An alarm is a condition (``hub.rules.alarms`` opens, bumps and clears them); a ticket is
crew work with a status, a priority and SLA due time, the asset's position and address, an
assignee (the crew whose area polygon holds it), comments, evidence and a full audit
history (``ticket_history``; every change writes one row, which is also what the hub
exports to InfluxDB as ticket events). Every function takes the caller's session and does
not commit; every invalid request raises :class:`TicketError` (or a subclass naming the
reason) *before* anything is changed, so the caller can report it and the ticket is as it was.

Statuses: ``new -> acknowledged -> in_progress -> resolved -> closed``, ``reopened`` (a
resolved or closed ticket whose fault came back or that a person reopened) and
``duplicate`` (of another ticket).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import commands
from hub.crews import crew_for
from hub.db import Alarm, Asset, Ticket, TicketComment, TicketHistory
from hub.rules.actions import Severity
from trygg import text as text_rule

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
SEVERITIES: Final = ("critical", "major", "minor", "warning", "indeterminate")
PRIORITY: Final[dict[str, int]] = {s: i + 1 for i, s in enumerate(SEVERITIES)}
SLA: Final[dict[int, timedelta]] = {
    1: timedelta(hours=2),
    2: timedelta(hours=24),
    3: timedelta(days=3),
    4: timedelta(days=7),
    5: timedelta(days=14),
}
TITLES: Final[dict[str, str]] = {
    "lampOut": "Lamp out at night",
    "dayBurning": "Lamp burning in daylight",
    "flicker": "Lamp flickering",
    "powerDrop": "Lamp power dropped",
    "cabinetOut": "Cabinet power loss: lamps out",
    "binFull": "Bin full",
    "binForecastFull": "Bin will be full soon",
    "binFire": "Fire in bin",
    "binTilted": "Bin tipped over or dropped",
    "binSensorDead": "Bin level sensor not reporting",
    "cameraCovered": "Camera covered",
    "cameraBlurred": "Camera blurred",
    "cameraDisplaced": "Camera displaced",
    "cameraFrozen": "Camera picture frozen",
    "cameraDark": "Camera picture too dark",
    "cameraOverexposed": "Camera picture overexposed",
    "graffiti": "Graffiti",
    "deviceOffline": "Pole device offline",
    "certificateExpiring": "Certificate or CRL expiring",
    "hubDegraded": "Hub degraded: a worker or dependency is failing",
}
# Kinds the hub raises for its own operators only (the fleet's certificates, the hub's own
# health): not in the Open311 catalogue, and their tickets never appear on Open311.
INTERNAL_KINDS: Final = frozenset({"certificateExpiring", "hubDegraded"})
MAX_TEXT: Final = 4000
MAX_EVIDENCE: Final = 20


class TicketError(ValueError):
    """A request the ticket service refuses; nothing was changed. ``code`` names why."""

    code = "invalid"


class TicketNotFoundError(TicketError):
    code = "not_found"


class TransitionError(TicketError):
    code = "invalid_transition"


class TicketInputError(TicketError):
    code = "invalid_input"


def record(
    s: Session,
    ticket: Ticket,
    *,
    at: datetime,
    actor: str,
    action: str,
    before: str | None,
    note: str = "",
) -> None:
    """One audit row for a change of ``ticket`` (status after the change is ``to_status``)."""
    s.add(
        TicketHistory(
            ticket_id=ticket.id,
            at=at,
            actor=actor[:64],
            action=action[:32],
            from_status=before,
            to_status=ticket.status,
            note=note[:MAX_TEXT],
        )
    )


def _text(value: str, what: str, *, limit: int = MAX_TEXT, empty: bool = True) -> str:
    if not isinstance(value, str) or len(value) > limit or (not empty and not value.strip()):
        raise TicketInputError(f"{what} must be text of 1..{limit} characters")
    # The boundaries refuse these already; this holds for every caller of the service.
    if (why := text_rule.refusal(value, multiline=True)) is not None:
        raise TicketInputError(f"{what}: {why}")
    return value


def get_ticket(s: Session, *, ticket_id: int) -> Ticket:
    """The ticket; TicketNotFoundError if there is none with this id."""
    ticket = s.get(Ticket, ticket_id) if isinstance(ticket_id, int) else None
    if ticket is None:
        raise TicketNotFoundError(f"no ticket {ticket_id}")
    return ticket


def new_ticket(
    s: Session,
    *,
    kind: str,
    severity: Severity,
    now: datetime,
    actor: str,
    source: str,
    lat: float | None,
    lon: float | None,
    address: str | None = None,
    asset_id: str | None = None,
    device_id: str | None = None,
    title: str | None = None,
    description: str = "",
    priority: int | None = None,
    evidence: dict[str, Any] | None = None,
) -> Ticket:
    """Insert a ``new`` ticket, assigned to the crew whose area holds it, with its history."""
    prio = priority if priority is not None else PRIORITY[severity]
    crew = crew_for(s, lat=lat, lon=lon, kind=kind)
    ticket = Ticket(
        kind=kind,
        status="new",
        priority=prio,
        severity=severity,
        asset_id=asset_id,
        device_id=device_id,
        lat=lat,
        lon=lon,
        address=address,
        title=(title or TITLES.get(kind, kind))[:200],
        description=description,
        source=source,
        assignee=crew.id if crew else None,
        area=crew.area if crew else None,
        sla_due=now + SLA[prio],
        created_at=now,
        updated_at=now,
        reopen_count=0,
        alarm_count=1,
        evidence=dict(evidence or {}),
    )
    s.add(ticket)
    s.flush()
    record(s, ticket, at=now, actor=actor, action="open", before=None, note=description[:200])
    if crew is not None:
        record(s, ticket, at=now, actor=actor, action="assign", before="new", note=crew.id)
    return ticket


def create_ticket(
    s: Session,
    *,
    kind: str,
    reporter: str,
    now: datetime,
    lat: float,
    lon: float,
    source: str = "person",
    description: str = "",
    address: str | None = None,
    asset_id: str | None = None,
    severity: Severity = "minor",
    priority: int | None = None,
    evidence: dict[str, Any] | None = None,
    may_merge: Callable[[Ticket], bool] | None = None,
) -> Ticket:
    """A ticket reported by a person (e.g. graffiti seen by a crew member or a citizen).

    If ``asset_id`` names an asset that already has an open ticket of this kind, that
    ticket gets the report as a comment and its count bumped instead of a duplicate, but
    only if ``may_merge`` allows it (the reporter may see that ticket); otherwise the
    report becomes a ticket of its own.
    TicketInputError for an unknown asset, kind, severity, priority or a bad position.
    """
    _text(kind, "kind", limit=64, empty=False)
    _text(description, "description")
    if severity not in PRIORITY:
        raise TicketInputError(f"unknown severity {severity!r}")
    if priority is not None and priority not in SLA:
        raise TicketInputError("priority must be 1..5")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise TicketInputError("lat/lon out of range")
    asset = s.get(Asset, asset_id) if asset_id else None
    if asset_id and asset is None:
        raise TicketInputError(f"no asset {asset_id}")
    if asset is not None:
        existing = s.scalars(
            select(Ticket).where(
                Ticket.asset_id == asset.id,
                Ticket.kind == kind,
                Ticket.status.in_(OPEN_STATUSES),
            )
        ).first()
        if existing is not None and (may_merge is None or may_merge(existing)):
            existing.alarm_count += 1
            existing.updated_at = now
            comment(s, ticket_id=existing.id, author=reporter, text=description or kind, now=now)
            return existing
    return new_ticket(
        s,
        kind=kind,
        severity=severity,
        priority=priority,
        now=now,
        actor=reporter,
        source=source,
        lat=lat,
        lon=lon,
        address=address or (asset.address if asset else None),
        asset_id=asset_id,
        device_id=asset.device_id if asset else None,
        description=description,
        evidence={"reportedBy": source, **(evidence or {})},
    )


def transition(
    s: Session, *, ticket_id: int, action: str, actor: str, now: datetime, note: str = ""
) -> Ticket:
    """Apply a crew action (see TRANSITIONS).

    TicketNotFoundError for an unknown ticket, TransitionError for an action the status does
    not allow. Resolving also ends the alarms behind the ticket (a latched camera alarm ends
    only this way); a fault that is still there raises them again. Acknowledging, starting
    or resolving a camera tamper ticket sends ``ack_tamper`` to the pole (hub.commands).
    """
    _text(note, "note")
    if action not in TRANSITIONS:
        raise TransitionError(f"unknown action {action!r}")
    ticket = get_ticket(s, ticket_id=ticket_id)
    allowed, target = TRANSITIONS[action]
    if ticket.status not in allowed:
        raise TransitionError(f"cannot {action} a ticket that is {ticket.status}")
    before = ticket.status
    ticket.status, ticket.updated_at = target, now
    if target == "acknowledged":
        ticket.acknowledged_at = now
    if target == "resolved":
        ticket.resolved_at, ticket.hold_until = now, None
        linked = select(Alarm).where(Alarm.ticket_id == ticket.id, Alarm.active.is_(True))
        for alarm in s.scalars(linked).all():
            alarm.active, alarm.cleared_at = False, now
    if target in ("acknowledged", "in_progress", "resolved"):
        commands.acknowledge_tamper(s, ticket, now=now)  # someone looked: release the latch
    if target == "closed":
        ticket.closed_at = now
    if target == "reopened":
        ticket.reopen_count += 1
        ticket.resolved_at = ticket.closed_at = None
    record(s, ticket, at=now, actor=actor, action=action, before=before, note=note)
    return ticket


def acknowledge(s: Session, *, ticket_id: int, actor: str, now: datetime, note: str = "") -> Ticket:
    """``new``/``reopened`` -> ``acknowledged``; also acknowledges its alarms."""
    ticket = transition(
        s, ticket_id=ticket_id, action="acknowledge", actor=actor, now=now, note=note
    )
    for alarm in s.scalars(select(Alarm).where(Alarm.ticket_id == ticket.id, Alarm.active)).all():
        alarm.acknowledged, alarm.acknowledged_at, alarm.acknowledged_by = True, now, actor[:64]
    return ticket


def start(s: Session, *, ticket_id: int, actor: str, now: datetime, note: str = "") -> Ticket:
    """-> ``in_progress`` (a crew is on it)."""
    return transition(s, ticket_id=ticket_id, action="start", actor=actor, now=now, note=note)


def resolve(s: Session, *, ticket_id: int, actor: str, now: datetime, note: str = "") -> Ticket:
    """An open ticket -> ``resolved``; TransitionError if it is resolved/closed/duplicate."""
    return transition(s, ticket_id=ticket_id, action="resolve", actor=actor, now=now, note=note)


def close(s: Session, *, ticket_id: int, actor: str, now: datetime, note: str = "") -> Ticket:
    """``resolved`` -> ``closed`` (verified, nothing more to do)."""
    return transition(s, ticket_id=ticket_id, action="close", actor=actor, now=now, note=note)


def reopen(s: Session, *, ticket_id: int, actor: str, now: datetime, note: str = "") -> Ticket:
    """``resolved``/``closed`` -> ``reopened``."""
    return transition(s, ticket_id=ticket_id, action="reopen", actor=actor, now=now, note=note)


def mark_duplicate(
    s: Session, *, ticket_id: int, of_ticket_id: int, actor: str, now: datetime
) -> Ticket:
    """Close an open ticket as a duplicate of another existing ticket (not itself)."""
    if ticket_id == of_ticket_id:
        raise TicketInputError("a ticket cannot duplicate itself")
    get_ticket(s, ticket_id=of_ticket_id)
    ticket = transition(
        s,
        ticket_id=ticket_id,
        action="duplicate",
        actor=actor,
        now=now,
        note=f"duplicate of #{of_ticket_id}",
    )
    ticket.duplicate_of = of_ticket_id
    return ticket


def assign(
    s: Session, *, ticket_id: int, assignee: str | None, actor: str, now: datetime
) -> Ticket:
    """Give an open ticket to ``assignee`` (a crew or person id; None unassigns)."""
    if assignee is not None:
        _text(assignee, "assignee", limit=64, empty=False)
    ticket = get_ticket(s, ticket_id=ticket_id)
    if ticket.status not in OPEN_STATUSES:
        raise TransitionError(f"cannot assign a ticket that is {ticket.status}")
    ticket.assignee, ticket.updated_at = assignee, now
    record(
        s, ticket, at=now, actor=actor, action="assign", before=ticket.status, note=assignee or ""
    )
    return ticket


def comment(
    s: Session, *, ticket_id: int, author: str, text: str, now: datetime, public: bool = False
) -> TicketComment:
    """Add a comment (any status: crews note things on closed tickets too).

    ``public`` comments are the only notes Open311 shows to anonymous callers.
    """
    _text(text, "comment", empty=False)
    _text(author, "author", limit=64, empty=False)
    ticket = get_ticket(s, ticket_id=ticket_id)
    row = TicketComment(ticket_id=ticket.id, at=now, author=author, text=text, public=public)
    s.add(row)
    ticket.updated_at = now
    record(s, ticket, at=now, actor=author, action="comment", before=ticket.status, note=text[:200])
    s.flush()
    return row


def comments(s: Session, *, ticket_id: int) -> list[TicketComment]:
    get_ticket(s, ticket_id=ticket_id)
    q = select(TicketComment).where(TicketComment.ticket_id == ticket_id)
    return list(s.scalars(q.order_by(TicketComment.id)))


def history(s: Session, *, ticket_id: int) -> list[TicketHistory]:
    """The ticket's full audit trail, oldest first."""
    get_ticket(s, ticket_id=ticket_id)
    q = select(TicketHistory).where(TicketHistory.ticket_id == ticket_id)
    return list(s.scalars(q.order_by(TicketHistory.id)))


def list_tickets(
    s: Session,
    *,
    status: str | Sequence[str] | None = None,
    kind: str | Sequence[str] | None = None,
    priority: int | None = None,
    assignee: str | None = None,
    area: str | None = None,
    asset_id: str | None = None,
    open_only: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> list[Ticket]:
    """Tickets by priority then age; ``status="open"`` means every open status.

    TicketInputError for an unknown status or a limit outside 1..1000.
    """
    if not 1 <= limit <= 1000 or offset < 0:
        raise TicketInputError("limit must be 1..1000 and offset >= 0")
    q = select(Ticket).order_by(Ticket.priority, Ticket.created_at, Ticket.id)
    if status is not None:
        wanted = [status] if isinstance(status, str) else list(status)
        expanded: set[str] = set()
        for st in wanted:
            if st == "open":
                expanded |= OPEN_STATUSES
            elif st in STATUSES:
                expanded.add(st)
            else:
                raise TicketInputError(f"unknown status {st!r}")
        q = q.where(Ticket.status.in_(sorted(expanded)))
    if open_only:
        q = q.where(Ticket.status.in_(sorted(OPEN_STATUSES)))
    if kind is not None:
        q = q.where(Ticket.kind.in_([kind] if isinstance(kind, str) else list(kind)))
    if priority is not None:
        q = q.where(Ticket.priority == priority)
    if assignee is not None:
        q = q.where(Ticket.assignee == assignee)
    if area is not None:
        q = q.where(Ticket.area == area)
    if asset_id is not None:
        q = q.where(Ticket.asset_id == asset_id)
    return list(s.scalars(q.limit(limit).offset(offset)))


def list_alarms(
    s: Session, *, active: bool | None = None, asset_id: str | None = None, limit: int = 100
) -> list[Alarm]:
    """Alarms (conditions), newest first."""
    q = select(Alarm).order_by(Alarm.id.desc())
    if active is not None:
        q = q.where(Alarm.active.is_(active))
    if asset_id is not None:
        q = q.where(Alarm.asset_id == asset_id)
    return list(s.scalars(q.limit(max(1, min(limit, 1000)))))


def acknowledge_alarm(s: Session, *, alarm_id: int, actor: str, now: datetime) -> Alarm:
    """Mark an alarm seen; TicketNotFoundError if unknown, TransitionError if already so."""
    alarm = s.get(Alarm, alarm_id)
    if alarm is None:
        raise TicketNotFoundError(f"no alarm {alarm_id}")
    if alarm.acknowledged:
        raise TransitionError(f"alarm {alarm_id} is already acknowledged")
    alarm.acknowledged, alarm.acknowledged_at, alarm.acknowledged_by = True, now, actor[:64]
    return alarm
