"""How one notice goes out: outbox rows and e-mail per escalation level."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
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


async def _deliver(d: Dispatcher, notice: AlertNotice) -> bool:
    """What the hub's notice feed does with one change: its outbox rows, then its mail."""
    with d.sessions.begin() as s:
        d.counts.webhook_rows += d.enqueue(s, notice)
    return await d.mail(notice, d.emails(notice)) if d.emails(notice) else True


async def test_each_level_hears_in_turn_and_webhooks_are_queued(
    sessions: sessionmaker[Session], smtp: tuple[Inbox, mail.SmtpServer]
) -> None:
    got, server = smtp
    d = _dispatcher(sessions, server)
    for record in states()[:4]:  # raised, escalated, acknowledged, resolved
        assert await _deliver(d, AlertNotice.from_json(record))
    heard = [(m["Subject"].split(":")[0], r[0]) for _, r, m in got.got]
    assert heard == [
        ("[Trygg Extreme] Larm", "operator@solna.example"),
        ("[Trygg Extreme] Eskalerat", "polis@solna.example"),
        ("[Trygg Extreme] Kvitterat", "operator@solna.example"),
        ("[Trygg Extreme] Kvitterat", "polis@solna.example"),
        ("[Trygg Extreme] Avslutat", "operator@solna.example"),
        ("[Trygg Extreme] Avslutat", "polis@solna.example"),
    ]
    with sessions.begin() as s:
        events = list(s.scalars(select(WebhookDelivery.event).order_by(WebhookDelivery.id)))
    assert events == ["alert.raised", "alert.escalated", "alert.acknowledged", "alert.resolved"]
    assert (d.counts.webhook_rows, d.counts.mails_sent, d.counts.mails_failed) == (4, 6, 0)


async def test_a_notice_queued_twice_adds_its_webhook_rows_once(
    sessions: sessionmaker[Session],
) -> None:
    d = _dispatcher(sessions, None)
    notice = AlertNotice.from_json(dict(RAISED))
    assert d.emails(notice) == ()  # no SMTP server: nobody is mailed
    for _ in range(2):  # a delivery taken over after the first holder queued it
        assert await _deliver(d, notice)
    with sessions.begin() as s:
        keys = list(s.scalars(select(WebhookDelivery.alert_key)))
    assert keys == [f"{RAISED['id']}-raised-0"]
    assert d.counts.webhook_rows == 1


async def test_a_dead_smtp_server_fails_only_the_mail(sessions: sessionmaker[Session]) -> None:
    dead = mail.SmtpServer(
        host="127.0.0.1", port=free_port(), sender="t@solna.example", starttls=False
    )
    d = _dispatcher(sessions, dead, retry_attempts=3)
    for i in (1, 2):
        assert not await _deliver(d, AlertNotice.from_json({**RAISED, "id": i}))
    assert d.counts.webhook_rows == 2
    assert (d.counts.mails_sent, d.counts.mails_failed) == (0, 2)
