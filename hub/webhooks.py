"""Webhooks: HMAC-signed ticket events, delivered from a durable outbox with backoff.

The ticket history is the event log ("escalate" rows are added here when an open
ticket passes its SLA due time). A pump turns new history rows (open, reopen,
escalate, resolve) into one outbox row per subscription in the same transaction that moves
its watermark, so an event is queued exactly once even if the hub dies mid-way; the unique
(subscription, history row) pair makes a rescan harmless. A worker posts due rows and, on
failure, schedules the next attempt with capped exponential backoff and jitter. A receiver
that is down for hours gets every event when it returns (until ``max_attempts``).
Delivery itself (one lane per receiver) is in :mod:`hub.webhook_worker`.

Signature recipe (also in docs/webhooks.md): header ``Trygg-Signature: t=<unix>,v1=<hex>`` where
``hex = HMAC-SHA256(secret, "<t>." + raw body)``; reject if ``|now - t| > 300`` s. ``t`` is
the wall-clock time of sending (never a simulated clock), since receivers compare it with
their own clock. The reference implementation is :func:`verify`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub import tickets as service
from hub.db import Counter, Ticket, TicketHistory, WebhookDelivery, WebhookSubscription
from trygg.backoff import delay

log = logging.getLogger(__name__)

EVENTS: Final[dict[str, str]] = {
    "open": "ticket.opened",
    "reopen": "ticket.reopened",
    "escalate": "ticket.escalated",
    "resolve": "ticket.resolved",
    "auto_resolve": "ticket.resolved",
}
ALERT_EVENTS: Final[dict[str, str]] = {
    "raised": "alert.raised",
    "acknowledged": "alert.acknowledged",
    "escalated": "alert.escalated",
    "resolved": "alert.resolved",
}
EVENT_TYPES: Final = tuple(sorted(set(EVENTS.values()) | set(ALERT_EVENTS.values())))
FORMATS: Final = ("json", "cap")  # how alert events are sent; ticket events are always JSON
JSON_MEDIA_TYPE: Final = "application/json"
SIGNATURE_HEADER: Final = "Trygg-Signature"
WATERMARK: Final = "webhooks.history_watermark"
LOOKBACK: Final = 500  # history ids below the watermark rescanned (late commits on PostgreSQL)


class SignatureError(ValueError):
    """A webhook signature that is missing, malformed, stale or wrong."""


def sign(secret: str, body: bytes, *, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance_s: int = 300) -> None:
    """Check a ``Trygg-Signature`` header against the raw body; SignatureError says why."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError) as exc:
        raise SignatureError("malformed signature header") from exc
    if abs(now - ts) > tolerance_s:
        raise SignatureError("signature timestamp outside tolerance")
    expected = sign(secret, body, timestamp=ts).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise SignatureError("signature mismatch")


def _ticket_json(t: Ticket) -> dict[str, Any]:
    return {
        "id": t.id,
        "kind": t.kind,
        "status": t.status,
        "priority": t.priority,
        "title": t.title,
        "asset_id": t.asset_id,
        "lat": t.lat,
        "lon": t.lon,
        "address": t.address,
        "sla_due": t.sla_due.isoformat() if t.sla_due else None,
    }


def subscribe(
    s: Session,
    *,
    url: str,
    secret: str,
    events: list[str],
    now: datetime,
    format: str = "json",
) -> WebhookSubscription:
    """A new subscription that receives events from now on (not the past).

    ``format`` says how alert events are sent (JSON or CAP 1.2 XML); a CAP subscription
    takes alert events only. ValueError says what is wrong.
    """
    unknown = set(events) - set(EVENT_TYPES)
    if unknown:
        raise ValueError(f"unknown event types {sorted(unknown)}; expected {list(EVENT_TYPES)}")
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; expected one of {list(FORMATS)}")
    if format == "cap":
        if set(events) - set(ALERT_EVENTS.values()):
            raise ValueError("a CAP subscription takes alert events only")
        events = list(events) or list(ALERT_EVENTS.values())
    after = s.scalar(select(func.max(TicketHistory.id))) or 0
    sub = WebhookSubscription(
        url=url,
        secret=secret,
        events={"types": sorted(events) or list(EVENT_TYPES), "after": after, "format": format},
        active=True,
        created_at=now,
    )
    s.add(sub)
    s.flush()
    return sub


def escalate_overdue(s: Session, *, now: datetime) -> list[int]:
    """Record an ``escalate`` history row, once, for open tickets past their SLA due time."""
    # Correlated on ticket_id (indexed): cost grows with overdue open tickets, not history.
    done = (
        select(TicketHistory.id)
        .where(TicketHistory.ticket_id == Ticket.id, TicketHistory.action == "escalate")
        .exists()
    )
    late = s.scalars(
        select(Ticket)
        .where(Ticket.status.in_(sorted(service.OPEN_STATUSES)), Ticket.sla_due <= now)
        .where(~done)
        .order_by(Ticket.id)
        .limit(500)
    ).all()
    for t in late:
        service.record(
            s,
            t,
            at=now,
            actor="sla",
            action="escalate",
            before=t.status,
            note="SLA due time passed",
        )
    return [t.id for t in late]


def enqueue(s: Session, *, now: datetime) -> int:
    """Queue outbox rows for history rows past the watermark; returns how many were added.

    Escalations (SLA overdue) are recorded first so they go out in the same pass.
    """
    escalate_overdue(s, now=now)
    s.flush()
    mark = s.get(Counter, WATERMARK) or Counter(name=WATERMARK, value=0)
    s.add(mark)
    subs = list(s.scalars(select(WebhookSubscription).where(WebhookSubscription.active.is_(True))))
    rows = (
        []
        if not subs
        else list(
            s.scalars(
                select(TicketHistory)
                .where(TicketHistory.id > mark.value - LOOKBACK)
                .where(TicketHistory.action.in_(EVENTS))
                .order_by(TicketHistory.id)
            )
        )
    )
    added = 0
    if rows and subs:
        pairs = select(WebhookDelivery.subscription_id, WebhookDelivery.history_id).where(
            WebhookDelivery.history_id >= rows[0].id
        )
        have = {(sub_id, hist_id) for sub_id, hist_id in s.execute(pairs)}
        for h in rows:
            event = EVENTS[h.action]
            ticket = s.get(Ticket, h.ticket_id)
            for sub in subs:
                if (sub.id, h.id) in have or h.id <= int(sub.events.get("after", 0)):
                    continue
                if event not in sub.events.get("types", EVENT_TYPES) or ticket is None:
                    continue
                payload = {
                    "event": event,
                    "occurred_at": h.at.isoformat(),
                    "actor": h.actor,
                    "note": h.note,
                    "ticket": _ticket_json(ticket),
                }
                s.add(
                    WebhookDelivery(
                        subscription_id=sub.id,
                        history_id=h.id,
                        event=event,
                        payload=payload,
                        created_at=now,
                        attempts=0,
                        next_attempt_at=now,
                        last_error="",
                    )
                )
                added += 1
    top = s.scalar(select(func.max(TicketHistory.id))) or 0
    mark.value = max(mark.value, top)
    return added


@dataclass(frozen=True, slots=True)
class Receiver:
    id: int
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class Due:
    """One delivery ready to send: its outbox id, event name and the exact body to sign."""

    id: int
    event: str
    body: bytes
    media_type: str = JSON_MEDIA_TYPE


def receivers(s: Session) -> list[Receiver]:
    """The active subscriptions, oldest first."""
    rows = s.scalars(
        select(WebhookSubscription)
        .where(WebhookSubscription.active.is_(True))
        .order_by(WebhookSubscription.id)
    )
    return [Receiver(sub.id, sub.url, sub.secret) for sub in rows]


def claim(s: Session, *, subscription_id: int, now: datetime, limit: int) -> list[Due]:
    """Up to ``limit`` of one receiver's oldest pending deliveries that are due, oldest first.

    It stops at the first pending delivery that is not due yet (waiting out its backoff),
    so a receiver gets its events in outbox order and a failing receiver is retried at the
    pace of its oldest event, not hammered with the newer ones.
    """
    rows = list(
        s.scalars(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.subscription_id == subscription_id,
                WebhookDelivery.delivered_at.is_(None),
                WebhookDelivery.failed_at.is_(None),
            )
            .order_by(WebhookDelivery.id)
            .limit(limit)
        )
    )
    due: list[Due] = []
    for d in rows:
        if d.next_attempt_at > now:
            break
        if d.media_type == JSON_MEDIA_TYPE:
            body = json.dumps(
                {"delivery_id": d.id, **d.payload}, separators=(",", ":"), sort_keys=True
            )
        else:  # rendered when queued, e.g. CAP XML
            body = str(d.payload["body"])
        due.append(Due(d.id, d.event, body.encode(), d.media_type))
    return due


def record_attempt(
    s: Session,
    *,
    delivery_id: int,
    error: str | None,
    now: datetime,
    max_attempts: int,
    base_s: float,
    cap_s: float,
    rnd: float,
) -> None:
    """Mark a delivery sent (``error`` None) or schedule its retry after :func:`backoff`.

    After ``max_attempts`` failures the delivery is given up (``failed_at``).
    """
    d = s.get(WebhookDelivery, delivery_id)
    if d is None:
        return
    d.attempts += 1
    if error is None:
        d.delivered_at, d.last_error = now, ""
        return
    d.last_error = error[:300]
    if d.attempts >= max_attempts:
        d.failed_at = now
        log.warning("webhook delivery %d gave up after %d attempts", d.id, d.attempts)
    else:
        wait = delay(d.attempts - 1, base_s=base_s, cap_s=cap_s, rnd=rnd)
        d.next_attempt_at = now + timedelta(seconds=wait)
