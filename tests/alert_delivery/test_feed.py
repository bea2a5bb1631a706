"""The alert notice feed on SQLite and PostgreSQL: every committed change waits in
``alert_history`` until a feed has put it into the webhook outbox (and mailed it), and a
change is marked only once that is done, so a feed that dies leaves it for the next."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub import webhooks
from hub.alert_delivery import mail, pending
from hub.alert_delivery.cap import CapSource
from hub.alert_delivery.contacts import parse_contacts
from hub.alert_delivery.dispatch import Dispatcher
from hub.alert_delivery.feed import NoticeFeed
from hub.alert_delivery.notice import AlertNotice
from hub.alerts import store
from hub.alerts.model import AlertClear, AlertRaise
from hub.alerts.tables import AlertHistory, AlertRow
from hub.db import WebhookDelivery, open_database
from tests.alert_delivery.test_mail import Inbox
from trygg.clock import FakeClock
from trygg.stack import free_port

pytestmark = pytest.mark.integration  # real SQLite and PostgreSQL, a real SMTP server
T0 = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)
LEVELS = parse_contacts(
    "levels: [{name: Operatör, email: operator@solna.example, delay_s: 0}]", source="test"
)


@pytest.fixture
def sessions(sql_url: str) -> Iterator[sessionmaker[Session]]:
    made = open_database(sql_url)
    with made.begin() as s:
        webhooks.subscribe(
            s, url="http://127.0.0.1:9/a", secret="k" * 16, events=["alert.raised"], now=T0
        )
    yield made
    made.kw["bind"].dispose()


def _dispatcher(sessions: sessionmaker[Session], smtp: mail.SmtpServer | None) -> Dispatcher:
    return Dispatcher(
        sessions=sessions,
        clock=FakeClock(T0),
        source=CapSource("trygg.solna.example"),
        levels=LEVELS,
        smtp=smtp,
        retry_base_s=0.01,
        retry_cap_s=0.02,
        rng=lambda: 0.0,
    )


def _raise(sessions: sessionmaker[Session], zone: str, *, at: datetime = T0) -> int:
    with sessions.begin() as s:
        (alert,) = store.apply(
            s, [AlertRaise(zone, "crowdLevel", "Severe", {"peopleDensity": 2.1})], now=at, where={}
        )
    return alert.id


def _current(s: Session, alert_id: int) -> dict[str, object]:
    row = s.get(AlertRow, alert_id)
    assert row is not None
    return store.to_alert(row).to_json()


def _backlog(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return pending.backlog(s)


async def _feed_until(feed: NoticeFeed, until: Callable[[], bool], limit_s: float = 10) -> None:
    ended = asyncio.Event()
    task = asyncio.create_task(feed.run(ended))
    for _ in range(int(limit_s / 0.02)):
        if until() or task.done():
            break
        await asyncio.sleep(0.02)
    ended.set()
    await asyncio.wait_for(task, timeout=5)


def test_each_change_waits_with_the_alert_as_it_became(sessions: sessionmaker[Session]) -> None:
    alert_id = _raise(sessions, "arena-north")
    with sessions.begin() as s:
        store.step(s, alert_id, "acknowledge", now=T0 + timedelta(seconds=20), by="op")
        store.apply(
            s, [AlertClear("arena-north", "crowdLevel")], now=T0 + timedelta(seconds=60), where={}
        )
    with sessions() as s:
        waiting = pending.take(s, limit=10)
        assert [p.alert["status"] for p in waiting] == ["raised", "acknowledged", "resolved"]
        assert waiting[0].alert["acknowledgedAt"] is None  # the raise as it was, not as it is
        assert [p.history_id for p in pending.take(s, limit=10, skip={waiting[0].history_id})] == [
            p.history_id for p in waiting[1:]
        ]
        assert [p.history_id for p in pending.take(s, limit=1)] == [waiting[0].history_id]
    with sessions.begin() as s:
        assert pending.mark_delivered(s, waiting[1].history_id, now=T0)
        assert not pending.mark_delivered(s, waiting[1].history_id, now=T0)  # marked already
    assert _backlog(sessions) == 2


def test_a_row_without_its_alert_comes_with_the_alerts_current_state(
    sessions: sessionmaker[Session],
) -> None:
    alert_id = _raise(sessions, "arena-south")
    with sessions.begin() as s:  # as an older hub wrote it
        row = s.scalars(select(AlertHistory).where(AlertHistory.alert_id == alert_id)).one()
        row.alert = None
    with sessions() as s:
        (found,) = pending.take(s, limit=5)
    assert AlertNotice.from_json(found.alert).key == f"{alert_id}-raised-0"


async def test_the_feed_queues_each_change_once_and_marks_it_with_its_outbox_rows(
    sessions: sessionmaker[Session],
) -> None:
    first = _raise(sessions, "arena-north")
    second = _raise(sessions, "arena-south")
    woken: list[int] = []
    dispatcher = _dispatcher(sessions, None)
    dispatcher.wake_webhooks = lambda: woken.append(1)
    feed = NoticeFeed(dispatcher=dispatcher, poll_s=0.05)
    await _feed_until(feed, lambda: _backlog(sessions) == 0)
    assert _backlog(sessions) == 0
    with sessions.begin() as s:  # another holder delivers the same change again
        again = dispatcher.enqueue(s, AlertNotice.from_json(_current(s, first)))
    assert again == 0
    with sessions() as s:
        keys = list(s.scalars(select(WebhookDelivery.alert_key).order_by(WebhookDelivery.id)))
    assert keys == [f"{first}-raised-0", f"{second}-raised-0"]
    assert (feed.counts.delivered, feed.counts.failed, len(woken)) == (2, 0, 2)


async def test_a_change_is_marked_only_once_mailed_and_mailed_again_the_same_if_not(
    sessions: sessionmaker[Session], smtp: tuple[Inbox, mail.SmtpServer]
) -> None:
    inbox, server = smtp
    alert_id = _raise(sessions, "arena-north")
    with sessions() as s:
        (change,) = pending.take(s, limit=5)
    dead_holder = _dispatcher(sessions, server)
    notice = AlertNotice.from_json(change.alert)
    # A holder mailed it and was killed before it could mark it delivered.
    assert await dead_holder.mail(notice, dead_holder.emails(notice))
    assert _backlog(sessions) == 1
    feed = NoticeFeed(dispatcher=_dispatcher(sessions, server), poll_s=0.05)
    await _feed_until(feed, lambda: _backlog(sessions) == 0)
    assert _backlog(sessions) == 0
    ids = [m["Message-ID"] for _, _, m in inbox.got]
    assert len(ids) == 2
    assert ids[0] == ids[1]
    assert all(f"trygg.alert.{alert_id}-raised-0." in i for i in ids)


async def test_mail_still_under_way_when_the_feed_ends_is_left_for_the_next_holder(
    sessions: sessionmaker[Session],
) -> None:
    _raise(sessions, "arena-north")
    dead = mail.SmtpServer(
        host="127.0.0.1", port=free_port(), sender="trygg@solna.example", starttls=False
    )
    dispatcher = _dispatcher(sessions, dead)
    dispatcher.retry_base_s = dispatcher.retry_cap_s = 30.0  # still retrying when ended
    feed = NoticeFeed(dispatcher=dispatcher, poll_s=0.05)
    await _feed_until(feed, lambda: dispatcher.counts.webhook_rows >= 1)
    assert dispatcher.counts.webhook_rows == 1  # its webhook row is queued...
    assert _backlog(sessions) == 1  # ...but it is not marked: its mail never went


async def test_a_stored_alert_that_is_no_valid_notice_is_counted_and_the_rest_go_on(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    bad = _raise(sessions, "arena-north")
    good = _raise(sessions, "arena-south")
    with sessions.begin() as s:  # tampered with: an address where a zone name belongs
        row = s.scalars(select(AlertHistory).where(AlertHistory.alert_id == bad)).one()
        row.alert = {**(row.alert or {}), "zone": "olle@example.org"}
    feed = NoticeFeed(dispatcher=_dispatcher(sessions, None), poll_s=0.05)
    await _feed_until(feed, lambda: _backlog(sessions) == 0)
    assert _backlog(sessions) == 0  # marked, so it does not come back at every poll
    with sessions() as s:
        keys = list(s.scalars(select(WebhookDelivery.alert_key)))
    assert keys == [f"{good}-raised-0"]
    assert (feed.counts.invalid, feed.counts.delivered) == (1, 1)
    assert "is no valid notice" in caplog.text
    assert "olle@example.org" not in caplog.text  # the refusal does not repeat it
