"""Citizens' personal data (name, e-mail, phone): stored apart, never served, purged.

A citizen's report becomes a ticket without any personal field; the contact lives in its
own table so GET routes cannot leak it by accident, and :func:`purge` deletes it a
configured time after the ticket stops being open (GDPR storage limitation).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from hub import photos
from hub.db import CitizenContact, Ticket
from hub.tickets import OPEN_STATUSES
from trygg.clock import Clock

log = logging.getLogger(__name__)


def store(
    s: Session,
    *,
    ticket_id: int,
    now: datetime,
    first_name: str | None,
    last_name: str | None,
    email: str | None,
    phone: str | None,
    account_id: str | None,
    device_id: str | None,
) -> CitizenContact | None:
    """Keep the contact if the citizen gave any; None when there is nothing to keep."""
    if not any((first_name, last_name, email, phone, account_id, device_id)):
        return None
    row = CitizenContact(
        ticket_id=ticket_id,
        first_name=first_name,
        last_name=last_name,
        email=email,
        phone=phone,
        account_id=account_id,
        device_id=device_id,
        created_at=now,
    )
    s.add(row)
    return row


def purge(s: Session, *, now: datetime, retention: timedelta) -> int:
    """Delete contacts of tickets that ended more than ``retention`` ago; returns the count.

    A ticket ends when it is closed, resolved or marked duplicate; a reopened ticket is
    open again and keeps its contact.
    """
    ended = func.coalesce(Ticket.closed_at, Ticket.resolved_at, Ticket.updated_at)
    stale = select(Ticket.id).where(
        Ticket.status.not_in(OPEN_STATUSES),
        ended <= now - retention,
    )
    result = s.execute(delete(CitizenContact).where(CitizenContact.ticket_id.in_(stale)))
    return int(getattr(result, "rowcount", 0) or 0)


async def run_purge(
    stop: asyncio.Event,
    *,
    sessions: sessionmaker[Session],
    clock: Clock,
    retention: timedelta,
    every_s: float = 3600.0,
) -> None:
    """Purge expired contacts and crew photos (``hub.photos``) now and then every ``every_s``
    seconds until ``stop`` is set."""
    while not stop.is_set():

        def once() -> tuple[int, int]:
            with sessions.begin() as s:
                now = clock.now()
                return (
                    purge(s, now=now, retention=retention),
                    photos.purge(s, now=now, retention=retention),
                )

        n, m = await asyncio.to_thread(once)
        if n or m:
            log.info("deleted %d citizen contacts and %d photos past retention", n, m)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)
