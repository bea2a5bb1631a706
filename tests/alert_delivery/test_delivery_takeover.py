"""Alert notices survive the death of the hub delivering them (SQLite and PostgreSQL).

Two hubs' ``alert-delivery`` duties share a real lease table. Hub A takes the duty and is
killed before it delivered (its task cancelled: no release, its lease simply runs out);
hub B takes the duty over and delivers what A left, through the real webhook worker to a
real HTTP receiver and a real SMTP server. Every alert state reaches the receiver once, or
again only with the same ``delivery_id``, and each mail goes out once
(tests/alert_delivery/test_feed.py shows a mail sent again keeping its Message-ID).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub import webhooks
from hub.alert_delivery import mail, pending
from hub.alert_delivery.cap import CapSource
from hub.alert_delivery.contacts import parse_contacts
from hub.alert_delivery.dispatch import Dispatcher
from hub.alert_delivery.feed import NoticeFeed
from hub.alerts import store
from hub.alerts.model import AlertRaise
from hub.db import open_database
from hub.duty import Duty, SqlLease, Work
from hub.leases import Leases
from hub.webhook_targets import TargetPolicy
from hub.webhook_worker import WebhookWorker
from tests.alert_delivery.test_mail import Inbox
from tests.duty.hubs import Receiver, holder
from trygg.clock import SystemClock
from trygg.stack import free_port

pytestmark = pytest.mark.integration  # real SQLite and PostgreSQL, HTTP and SMTP servers
LEASE_S = 1.0
DUTY = "duty:alert-delivery"
LEVELS = parse_contacts(
    "levels: [{name: Operatör, email: operator@solna.example, delay_s: 0}]", source="test"
)


@pytest.fixture
def sessions(sql_url: str) -> Iterator[sessionmaker[Session]]:
    made = open_database(sql_url)
    yield made
    made.kw["bind"].dispose()


@pytest.fixture
def receiver(sessions: sessionmaker[Session]) -> Iterator[Receiver]:
    got = Receiver()
    with sessions.begin() as s:
        webhooks.subscribe(
            s,
            url=got.url,
            secret="s" * 32,
            events=["alert.raised", "alert.acknowledged"],
            now=datetime.now(UTC),
        )
    with got.running():
        yield got


def _duty(sessions: sessionmaker[Session], hub: str) -> Duty:
    table = Leases(sessions=sessions, clock=SystemClock(), holder=hub, ttl_s=LEASE_S)
    return Duty("alert-delivery", lease=SqlLease(table, DUTY))


def _dispatcher(
    sessions: sessionmaker[Session], smtp: mail.SmtpServer | None, *, retry_s: float = 0.01
) -> Dispatcher:
    return Dispatcher(
        sessions=sessions,
        clock=SystemClock(),
        source=CapSource("trygg.solna.example"),
        levels=LEVELS,
        smtp=smtp,
        retry_base_s=retry_s,
        retry_cap_s=retry_s,
        rng=lambda: 0.0,
    )


def _change_alerts(sessions: sessionmaker[Session]) -> list[str]:
    """Two alerts raised and one acknowledged, as hubs' rules and an operator would; the
    alert states' keys."""
    now = datetime.now(UTC)
    with sessions.begin() as s:
        raised = store.apply(
            s,
            [
                AlertRaise("arena-north", "crowdLevel", "Severe", {"peopleDensity": 2.2}),
                AlertRaise("arena-south", "crowdRising", "Moderate", {"risePerMin": 0.4}),
            ],
            now=now,
            where={},
        )
    with sessions.begin() as s:
        acked = store.step(s, raised[0].id, "acknowledge", now=now + timedelta(seconds=1), by="op")
    return [f"{a.id}-{a.status}-{a.escalation_level}" for a in (*raised, acked)]


async def _until(check: Callable[[], bool], *, timeout_s: float, what: str) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


@asynccontextmanager
async def _hub(duty: Duty, work: Work) -> AsyncIterator[asyncio.Task[None]]:
    """``duty`` running ``work``; leaving the block kills it: no release, as with SIGKILL."""
    task = asyncio.create_task(duty.run(asyncio.Event(), work))
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@asynccontextmanager
async def _webhook_worker(sessions: sessionmaker[Session]) -> AsyncIterator[WebhookWorker]:
    worker = WebhookWorker(
        sessions=sessions,
        clock=SystemClock(),
        policy=TargetPolicy.parse(["127.0.0.1"]),
        poll_s=0.1,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


def _by_state(receiver: Receiver) -> dict[str, set[int]]:
    """Each alert state the receiver heard of, with the delivery ids it came under."""
    out: dict[str, set[int]] = defaultdict(set)
    for body in receiver.seen():
        alert = body["alert"]
        out[f"{alert['id']}-{alert['status']}-{alert['escalationLevel']}"].add(body["delivery_id"])
    return out


async def _takeover(
    sessions: sessionmaker[Session],
    receiver: Receiver,
    a_work: Work,
    b_feed: NoticeFeed,
    *,
    until: Callable[[list[str]], bool],
) -> list[str]:
    """Hub A holds the duty while the alerts change and dies; hub B takes over and feeds
    until ``until(keys)`` holds for the changed states' keys, which it returns."""
    a, b = _duty(sessions, "hub-a"), _duty(sessions, "hub-b")
    async with _hub(a, a_work):
        await _until(lambda: a.held, timeout_s=10, what="hub-a taking the duty")
        keys = _change_alerts(sessions)
        await asyncio.sleep(0.3)  # hub A does whatever it gets to do before it dies
    assert holder(sessions, DUTY) == "hub-a"  # killed: its lease runs on
    async with _webhook_worker(sessions) as worker, _hub(b, b_feed.run):
        b_feed.dispatcher.wake_webhooks = worker.wake
        took = await _until(lambda: b.held, timeout_s=LEASE_S + 3, what="hub-b taking over")
        await _until(lambda: until(keys), timeout_s=15, what="hub-b delivering what hub-a left")
        await asyncio.sleep(0.3)  # a repeat, were there one, would arrive now
    assert took <= LEASE_S + LEASE_S / 3 + 1.0
    assert b.taken == 1
    return keys


def _heard_all(receiver: Receiver) -> Callable[[list[str]], bool]:
    return lambda keys: set(_by_state(receiver)) >= set(keys)


def _backlog(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return pending.backlog(s)


async def test_a_holder_killed_before_delivering_loses_no_notice(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    async def dies_before_delivering(ended: asyncio.Event) -> None:
        await ended.wait()

    feed = NoticeFeed(dispatcher=_dispatcher(sessions, None), poll_s=0.1)
    keys = await _takeover(
        sessions, receiver, dies_before_delivering, feed, until=_heard_all(receiver)
    )
    heard = _by_state(receiver)
    assert sorted(heard) == sorted(keys)
    assert all(len(ids) == 1 for ids in heard.values()), heard
    assert [b["event"] for b in receiver.seen()].count("alert.acknowledged") == 1
    assert _backlog(sessions) == 0
    assert feed.counts.delivered == 3


async def test_a_holder_killed_while_its_mail_is_retried_leaves_the_mail_to_the_next(
    sessions: sessionmaker[Session],
    receiver: Receiver,
    smtp: tuple[Inbox, mail.SmtpServer],
) -> None:
    inbox, server = smtp
    down = mail.SmtpServer(
        host="127.0.0.1", port=free_port(), sender="trygg@solna.example", starttls=False
    )
    # Hub A queues the webhooks, then keeps retrying a mail server that is down until killed.
    a_feed = NoticeFeed(dispatcher=_dispatcher(sessions, down, retry_s=30.0), poll_s=0.1)
    b_feed = NoticeFeed(dispatcher=_dispatcher(sessions, server), poll_s=0.1)
    keys = await _takeover(
        sessions,
        receiver,
        a_feed.run,
        b_feed,
        until=lambda keys: _heard_all(receiver)(keys) and _backlog(sessions) == 0,
    )
    assert a_feed.dispatcher.counts.webhook_rows == 3  # A got as far as the outbox
    assert b_feed.dispatcher.counts.webhook_rows == 0  # so B queued none again
    heard = _by_state(receiver)
    assert sorted(heard) == sorted(keys)
    assert all(len(ids) == 1 for ids in heard.values()), heard
    mailed = sorted(str(m["Message-ID"]) for _, _, m in inbox.got)
    assert len(set(mailed)) == len(mailed) == 3  # raise, raise, acknowledgement: once each
    assert [k for k in keys if any(f"trygg.alert.{k}." in m for m in mailed)] == keys
