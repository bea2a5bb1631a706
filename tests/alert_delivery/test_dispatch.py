"""The delivery subscriber: outbox rows and e-mail per escalation level, never blocking."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub import webhooks
from hub.alert_delivery import mail
from hub.alert_delivery.cap import CapSource
from hub.alert_delivery.contacts import parse_contacts
from hub.alert_delivery.dispatch import Dispatcher
from hub.alert_delivery.notice import AlertNotice
from hub.db import WebhookDelivery, open_database
from tests.alert_delivery.samples import RAISED, states
from tests.alert_delivery.test_mail import Inbox
from trygg.clock import FakeClock
from trygg.stack import free_port

LEVELS = parse_contacts(
    """
levels:
  - {name: Operatör, email: operator@solna.example, delay_s: 0}
  - {name: Polisen, email: polis@solna.example, delay_s: 60}
""",
    source="test",
)
T0 = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)

pytestmark = pytest.mark.integration  # a real SMTP server (aiosmtpd) and SQLite


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    made = open_database(f"sqlite:///{tmp_path}/hub.sqlite")
    with made.begin() as s:
        webhooks.subscribe(s, url="http://127.0.0.1:9/a", secret="k" * 16, events=[], now=T0)
    yield made
    made.kw["bind"].dispose()


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, mail.SmtpServer]]:
    got = Inbox()
    port = free_port()
    controller = Controller(got, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield (
            got,
            mail.SmtpServer(
                host="127.0.0.1", port=port, sender="trygg@solna.example", starttls=False
            ),
        )
    finally:
        controller.stop()


def _dispatcher(
    sessions: sessionmaker[Session], smtp: mail.SmtpServer | None, **kw: object
) -> Dispatcher:
    return Dispatcher(
        sessions=sessions,
        clock=FakeClock(T0),
        source=CapSource("trygg.solna.example"),
        levels=LEVELS,
        smtp=smtp,
        retry_base_s=0.01,
        retry_cap_s=0.02,
        rng=lambda: 0.0,
        **kw,  # type: ignore[arg-type]
    )


async def _settle(d: Dispatcher, until: Callable[[], bool], limit_s: float = 10.0) -> None:
    """Run the dispatcher until ``until()`` holds (at most ``limit_s``), then stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(d.run(stop))
    for _ in range(int(limit_s / 0.02)):
        if until():
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, timeout=5)


async def test_each_level_hears_in_turn_and_webhooks_are_queued(
    sessions: sessionmaker[Session], inbox: tuple[Inbox, mail.SmtpServer]
) -> None:
    got, smtp = inbox
    woken: list[int] = []
    d = _dispatcher(sessions, smtp, wake_webhooks=lambda: woken.append(1))
    for record in states()[:4]:  # raised, escalated, acknowledged, resolved
        assert d.offer(record)
    await _settle(d, lambda: d.counts.mails_sent >= 6)
    # Each notice's mail goes in its own task, so only the set per notice is fixed.
    heard = sorted((m["Subject"].split(":")[0], r[0]) for _, r, m in got.got)
    assert heard == [
        ("[Trygg Extreme] Avslutat", "operator@solna.example"),
        ("[Trygg Extreme] Avslutat", "polis@solna.example"),
        ("[Trygg Extreme] Eskalerat", "polis@solna.example"),
        ("[Trygg Extreme] Kvitterat", "operator@solna.example"),
        ("[Trygg Extreme] Kvitterat", "polis@solna.example"),
        ("[Trygg Extreme] Larm", "operator@solna.example"),
    ]
    with sessions.begin() as s:
        events = list(s.scalars(select(WebhookDelivery.event).order_by(WebhookDelivery.id)))
    assert events == ["alert.raised", "alert.escalated", "alert.acknowledged", "alert.resolved"]
    assert len(woken) == 4
    assert (d.counts.queued, d.counts.webhook_rows, d.counts.mails_failed) == (4, 4, 0)


async def test_bad_records_are_counted_and_a_full_queue_drops_the_oldest(
    sessions: sessionmaker[Session],
) -> None:
    d = _dispatcher(sessions, None, max_queued=2)
    assert not d.offer({**RAISED, "image": "aGk="})
    assert not d.offer("not an alert")
    first, second, third = (AlertNotice.from_json({**RAISED, "id": i}) for i in (1, 2, 3))
    assert [d.offer(first), d.offer(second), d.offer(third)] == [True, True, True]
    assert (d.counts.invalid, d.counts.dropped, d.counts.queued) == (2, 1, 3)
    await _settle(d, lambda: d.counts.webhook_rows >= 2)
    with sessions.begin() as s:
        keys = list(s.scalars(select(WebhookDelivery.alert_key).order_by(WebhookDelivery.id)))
    assert keys == ["2-raised-0", "3-raised-0"]


async def test_a_dead_smtp_server_delays_only_mail(sessions: sessionmaker[Session]) -> None:
    dead = mail.SmtpServer(
        host="127.0.0.1", port=free_port(), sender="t@solna.example", starttls=False
    )
    d = _dispatcher(sessions, dead, retry_attempts=3)
    for i in (1, 2):
        d.offer(AlertNotice.from_json({**RAISED, "id": i}))
    await _settle(d, lambda: d.counts.mails_failed >= 2)
    assert d.counts.webhook_rows == 2
    assert (d.counts.mails_sent, d.counts.mails_failed) == (0, 2)


async def test_a_notice_offered_from_a_thread_is_delivered(
    sessions: sessionmaker[Session],
) -> None:
    d = _dispatcher(sessions, None)
    stop = asyncio.Event()
    task = asyncio.create_task(d.run(stop))
    await asyncio.sleep(0.05)
    assert await asyncio.to_thread(d.offer, dict(RAISED))
    for _ in range(250):
        if d.counts.webhook_rows:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert (d.counts.queued, d.counts.webhook_rows) == (1, 1)
