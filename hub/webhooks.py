"""Webhooks: HMAC-signed ticket events, delivered from a durable outbox with backoff.

The ticket history is the event log ("escalate" rows are added here when an open
ticket passes its SLA due time). A pump turns new history rows (open, reopen,
escalate, resolve) into one outbox row per subscription in the same transaction that moves
its watermark, so an event is queued exactly once even if the hub dies mid-way; the unique
(subscription, history row) pair makes a rescan harmless. A worker posts due rows and, on
failure, schedules the next attempt with capped exponential backoff and jitter. A receiver
that is down for hours gets every event when it returns (until ``max_attempts``).

Signature recipe (also in the README): header ``Trygg-Signature: t=<unix>,v1=<hex>`` where
``hex = HMAC-SHA256(secret, "<t>." + raw body)``; reject if ``|now - t| > 300`` s. The
reference implementation is :func:`verify`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub import tickets as service
from hub.db import Counter, Ticket, TicketHistory, WebhookDelivery, WebhookSubscription
from trygg.clock import Clock

log = logging.getLogger(__name__)

EVENTS: Final[dict[str, str]] = {
    "open": "ticket.opened",
    "reopen": "ticket.reopened",
    "escalate": "ticket.escalated",
    "resolve": "ticket.resolved",
    "auto_resolve": "ticket.resolved",
}
EVENT_TYPES: Final = tuple(sorted(set(EVENTS.values())))
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


def backoff(attempts: int, *, base_s: float, cap_s: float, rnd: float) -> float:
    """Seconds before attempt ``attempts + 1``: base * 2^(n-1), capped, jittered to 50-100 %."""
    raw = min(cap_s, base_s * 2.0 ** max(0, attempts - 1))
    return raw * (0.5 + 0.5 * rnd)


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
    s: Session, *, url: str, secret: str, events: list[str], now: datetime
) -> WebhookSubscription:
    """A new subscription that receives events from now on (not the past)."""
    unknown = set(events) - set(EVENT_TYPES)
    if unknown:
        raise ValueError(f"unknown event types {sorted(unknown)}; expected {list(EVENT_TYPES)}")
    after = s.scalar(select(func.max(TicketHistory.id))) or 0
    sub = WebhookSubscription(
        url=url,
        secret=secret,
        events={"types": sorted(events) or list(EVENT_TYPES), "after": after},
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
class _Due:
    id: int
    url: str
    secret: str
    event: str
    body: bytes


@dataclass
class WebhookWorker:
    """Delivers the outbox; ``run(stop)`` is one task in the hub's TaskGroup."""

    sessions: sessionmaker[Session]
    clock: Clock
    poll_s: float = 1.0
    base_s: float = 5.0
    cap_s: float = 3600.0
    max_attempts: int = 20
    timeout_s: float = 10.0
    batch: int = 50
    rng: Callable[[], float] = random.random

    def _claim(self) -> list[_Due]:
        now = self.clock.now()
        with self.sessions.begin() as s:
            enqueue(s, now=now)
            q = (
                select(WebhookDelivery, WebhookSubscription)
                .join(
                    WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id
                )
                .where(
                    WebhookDelivery.delivered_at.is_(None),
                    WebhookDelivery.failed_at.is_(None),
                    WebhookDelivery.next_attempt_at <= now,
                    WebhookSubscription.active.is_(True),
                )
                .order_by(WebhookDelivery.id)
                .limit(self.batch)
            )
            return [
                _Due(
                    d.id,
                    sub.url,
                    sub.secret,
                    d.event,
                    json.dumps(
                        {"delivery_id": d.id, **d.payload}, separators=(",", ":"), sort_keys=True
                    ).encode(),
                )
                for d, sub in s.execute(q)
            ]

    def _record(self, delivery_id: int, error: str | None) -> None:
        now = self.clock.now()
        with self.sessions.begin() as s:
            d = s.get(WebhookDelivery, delivery_id)
            if d is None:
                return
            d.attempts += 1
            if error is None:
                d.delivered_at, d.last_error = now, ""
                return
            d.last_error = error[:300]
            if d.attempts >= self.max_attempts:
                d.failed_at = now
                log.warning("webhook delivery %d gave up after %d attempts", d.id, d.attempts)
            else:
                wait = backoff(d.attempts, base_s=self.base_s, cap_s=self.cap_s, rnd=self.rng())
                d.next_attempt_at = now + timedelta(seconds=wait)

    async def _post(self, client: httpx.AsyncClient, due: _Due) -> str | None:
        ts = int(self.clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(due.secret, due.body, timestamp=ts),
            "Trygg-Event": due.event,
            "Trygg-Delivery": str(due.id),
        }
        try:
            resp = await client.post(due.url, content=due.body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= resp.status_code < 300:
            return None
        return f"HTTP {resp.status_code}"

    async def step(self, client: httpx.AsyncClient) -> int:
        """Queue new events and try every due delivery once; returns how many succeeded."""
        return await self._deliver(client, await asyncio.to_thread(self._claim))

    async def _deliver(self, client: httpx.AsyncClient, due: list[_Due]) -> int:
        ok = 0
        for d in due:
            error = await self._post(client, d)
            if error is not None:
                log.info("webhook delivery %d to %s failed: %s", d.id, d.url, error)
            ok += error is None
            await asyncio.to_thread(self._record, d.id, error)
        return ok

    async def run(self, stop: asyncio.Event) -> None:
        # The HTTP client is made at the first delivery: its TLS context (the system's CA
        # store) costs ~30 ms of CPU, which every hub start would otherwise pay while it
        # drains the backlog that piled up while it was away.
        client: httpx.AsyncClient | None = None
        try:
            while not stop.is_set():
                try:
                    due = await asyncio.to_thread(self._claim)
                    if due:
                        if client is None:
                            client = httpx.AsyncClient(
                                timeout=self.timeout_s, follow_redirects=False
                            )
                        await self._deliver(client, due)
                except Exception as exc:  # noqa: BLE001 - a bad pass must not stop the hub
                    log.warning("webhook pass failed, retrying: %s: %s", type(exc).__name__, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_s)
        finally:
            if client is not None:
                await client.aclose()
