"""Alerts and events in SQL: the one place that reads and writes their tables.

Every change goes through :func:`hub.alerts.lifecycle.advance` and leaves an audit line in
``alert_history`` in the same transaction, holding the alert as it became (the notice that
:mod:`hub.alert_delivery.feed` delivers from there); callers publish the returned alerts once the
transaction has committed (:mod:`hub.alerts.events`), so nobody hears of a change that was
rolled back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.alerts.lifecycle import Audit, Step, advance, escalation_due
from hub.alerts.model import (
    OPEN,
    Alert,
    AlertAction,
    AlertClear,
    AlertRaise,
    Kind,
    Severity,
    Status,
    worse,
)
from hub.alerts.schedule import Event, Phase, Tightening
from hub.alerts.tables import AlertHistory, AlertRow, CrowdEvent

RULE: str = "rule"


@dataclass(frozen=True, slots=True)
class Where:
    """Where a zone is: its place name and the event running there, if any."""

    place: str | None
    event: str | None


def to_alert(row: AlertRow) -> Alert:
    return Alert(
        id=row.id,
        kind=cast(Kind, row.kind),
        severity=cast(Severity, row.severity),
        status=cast(Status, row.status),
        zone=row.zone,
        place=row.place,
        event=row.event,
        figures=dict(row.figures or {}),
        raised_at=row.raised_at,
        acknowledged_at=row.acknowledged_at,
        escalated_at=row.escalated_at,
        resolved_at=row.resolved_at,
        escalation_level=row.escalation_level,
    )


def _write(s: Session, row: AlertRow, alert: Alert, audit: Audit) -> None:
    row.status = alert.status
    row.acknowledged_at = alert.acknowledged_at
    row.escalated_at = alert.escalated_at
    row.resolved_at = alert.resolved_at
    row.escalation_level = alert.escalation_level
    s.add(
        AlertHistory(
            alert_id=row.id,
            step=audit.step,
            actor=audit.by,
            at=audit.at,
            old=audit.old,
            new=audit.new,
            alert=alert.to_json(),
        )
    )


def _open_row(s: Session, zone: str, kind: str) -> AlertRow | None:
    q = select(AlertRow).where(
        AlertRow.zone == zone, AlertRow.kind == kind, AlertRow.status.in_(sorted(OPEN))
    )
    return s.scalars(q.order_by(AlertRow.id.desc()).limit(1)).first()


def apply(
    s: Session, actions: Iterable[AlertAction], *, now: datetime, where: Mapping[str, Where]
) -> list[Alert]:
    """Open, sharpen or resolve alerts as the rules ask; returns the alerts that changed.

    A zone has at most one open alert per kind: a further raise only makes it more severe.
    """
    changed: list[Alert] = []
    for action in actions:
        row = _open_row(s, action.zone, action.kind)
        if isinstance(action, AlertClear):
            if row is not None:
                new, audit = advance(to_alert(row), "resolve", now=now, by=RULE)
                _write(s, row, new, audit)
                changed.append(new)
            continue
        assert isinstance(action, AlertRaise)
        if row is not None:
            severity = worse(cast(Severity, row.severity), action.severity)
            if severity == row.severity:
                continue
            row.severity, row.figures = severity, dict(action.figures)
            sharper = to_alert(row)
            s.add(
                AlertHistory(
                    alert_id=row.id,
                    step=f"severity:{severity}",
                    actor=RULE,
                    at=now,
                    old=row.status,
                    new=row.status,
                    alert=sharper.to_json(),
                )
            )
            changed.append(sharper)
            continue
        at = where.get(action.zone, Where(None, None))
        row = AlertRow(
            kind=action.kind,
            severity=action.severity,
            status="raised",
            zone=action.zone,
            place=at.place,
            event=at.event,
            figures=dict(action.figures),
            raised_at=now,
            escalation_level=0,
        )
        s.add(row)
        s.flush()
        raised = to_alert(row)
        s.add(
            AlertHistory(
                alert_id=row.id,
                step="raise",
                actor=RULE,
                at=now,
                old="",
                new="raised",
                alert=raised.to_json(),
            )
        )
        changed.append(raised)
    return changed


def step(s: Session, alert_id: int, what: Step, *, now: datetime, by: str) -> Alert:
    """One operator step; LookupError for an unknown id, LifecycleError when not allowed."""
    row = s.get(AlertRow, alert_id)
    if row is None:
        raise LookupError(f"no alert {alert_id}")
    new, audit = advance(to_alert(row), what, now=now, by=by)
    _write(s, row, new, audit)
    return new


def escalate_due(s: Session, *, now: datetime, ack_timeout_s: float, chain: int) -> list[Alert]:
    """Escalate every alert nobody acknowledged in time; returns those escalated."""
    out: list[Alert] = []
    rows = s.scalars(select(AlertRow).where(AlertRow.status.in_(["raised", "escalated"])))
    for row in rows:
        alert = to_alert(row)
        if escalation_due(alert, now=now, ack_timeout_s=ack_timeout_s, chain=chain):
            new, audit = advance(alert, "escalate", now=now, by=RULE)
            _write(s, row, new, audit)
            out.append(new)
    return out


def listing(
    s: Session, *, open_only: bool, since: datetime | None, limit: int = 500
) -> list[Alert]:
    """Alerts, newest first: open ones only or all, raised at or after ``since``."""
    q = select(AlertRow)
    if open_only:
        q = q.where(AlertRow.status.in_(sorted(OPEN)))
    if since is not None:
        q = q.where(AlertRow.raised_at >= since)
    return [to_alert(r) for r in s.scalars(q.order_by(AlertRow.id.desc()).limit(limit))]


def history(s: Session, alert_id: int) -> list[Audit]:
    q = select(AlertHistory).where(AlertHistory.alert_id == alert_id).order_by(AlertHistory.id)
    return [Audit(h.step, h.actor, h.at, h.old, h.new) for h in s.scalars(q)]


# ---- events ------------------------------------------------------------------------------
def _phase_json(p: Phase) -> dict[str, Any]:
    return {
        "name": p.name,
        "start": p.start.isoformat(),
        "end": p.end.isoformat(),
        "thresholdFactor": p.tightening.threshold_factor,
        "durationFactor": p.tightening.duration_factor,
    }


def _phase(d: Mapping[str, Any]) -> Phase:
    return Phase(
        name=d["name"],
        start=datetime.fromisoformat(d["start"]),
        end=datetime.fromisoformat(d["end"]),
        tightening=Tightening(float(d["thresholdFactor"]), float(d["durationFactor"])),
    )


def to_event(row: CrowdEvent) -> Event:
    return Event(
        name=row.name,
        place=row.place,
        zones=tuple(row.zones),
        expected_attendance=row.expected_attendance,
        phases=tuple(_phase(p) for p in row.phases),
    )


def save_event(s: Session, event: Event, *, now: datetime) -> bool:
    """Add or replace ``event``; True when it was new."""
    row = s.get(CrowdEvent, event.name)
    new = row is None
    if row is None:
        row = CrowdEvent(name=event.name)
        s.add(row)
    row.place = event.place
    row.zones = list(event.zones)
    row.expected_attendance = event.expected_attendance
    row.phases = [_phase_json(p) for p in event.phases]
    row.updated_at = now
    return new


def events(s: Session) -> list[Event]:
    return [to_event(r) for r in s.scalars(select(CrowdEvent).order_by(CrowdEvent.name))]


def get_event(s: Session, name: str) -> Event | None:
    row = s.get(CrowdEvent, name)
    return None if row is None else to_event(row)


def remove_event(s: Session, name: str) -> bool:
    row = s.get(CrowdEvent, name)
    if row is None:
        return False
    s.delete(row)
    s.flush()
    return True
