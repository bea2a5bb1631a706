"""Once-only work moves between real hub processes on PostgreSQL: the duty owner SIGKILLed,
or hung with SIGSTOP for longer than its lease, while ticket events stream into the webhook
outbox; an alert changed on one hub reaches an operator stream on the other; and alert
changes committed while the hub delivering alerts is killed reach a receiver from the other.

Each round: another hub holds every duty within the lease time (plus one renewal period and
the test's polling); every ticket event reaches the receiver, a repeat only with the same
``delivery_id``; the hung hub, once woken, stops its duties without renewing them.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub import auth, tickets, webhooks
from hub.alerts import store
from hub.alerts.model import AlertRaise
from hub.db import open_database
from tests.duty.hubs import HubProcess, Receiver, holder, hub_env, wait_until
from trygg.stack import LocalStack, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LEASE_S = 3.0
# no certificates here
DUTIES = ("webhooks", "alert-delivery", "privacy", "commands", "gauges", "rules-fleet")
# the lease runs out, a waiting hub tries once per renewal period, the test polls
TAKEOVER_LIMIT_S = LEASE_S + LEASE_S / 3 + 1.0


class Tickets:
    """Opens a ticket every few tens of milliseconds in a thread, as hubs' rules would."""

    def __init__(self, sessions: sessionmaker[Session], seed: int) -> None:
        self.sessions, self.rnd = sessions, random.Random(seed)
        self.ids: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Tickets:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.rnd.uniform(0.02, 0.08)):
            with self.sessions.begin() as s:
                t = tickets.create_ticket(
                    s,
                    kind="graffiti",
                    reporter="test",
                    now=datetime.now(UTC),
                    lat=59.36 + self.rnd.uniform(0, 0.01),
                    lon=18.0 + self.rnd.uniform(0, 0.01),
                )
                self.ids.append(t.id)


@pytest.fixture
def rig(
    stack: LocalStack, postgres_url: str, tmp_path: Path, unique: str
) -> Iterator[tuple[sessionmaker[Session], Receiver, dict[str, HubProcess]]]:
    sessions = open_database(postgres_url)  # migrated before any hub starts
    receiver = Receiver()
    with sessions.begin() as s:
        webhooks.subscribe(
            s,
            url=receiver.url,
            secret="s" * 32,
            events=["ticket.opened"],
            now=datetime.now(UTC),
        )
    hubs = {
        name: HubProcess(
            name=name,
            env=hub_env(
                name=name,
                database_url=postgres_url,
                stack=stack,
                influx_db=f"duty_{unique}",
                state=tmp_path,
                api_port=(port := free_port()),
                extra={
                    "TRYGG_PARTITIONS": "4",
                    "TRYGG_DUTY_LEASE_S": str(LEASE_S),
                    "TRYGG_ALERT_RELAY_S": "0.2",
                },
            ),
            log=tmp_path / f"{name}.log",
            api_port=port,
        )
        for name in ("hub-a", "hub-b")
    }
    with receiver.running():
        try:
            hubs["hub-a"].start()
            wait_until(
                lambda: holder(sessions, "duty:webhooks") == "hub-a",
                timeout_s=20,
                what="hub-a taking the duties",
            )
            hubs["hub-b"].start()
            yield sessions, receiver, hubs
        finally:
            for h in hubs.values():
                h.stop()
            sessions.kw["bind"].dispose()


def _all_moved_to(sessions: sessionmaker[Session], name: str) -> bool:
    return all(holder(sessions, f"duty:{d}") == name for d in DUTIES)


def _delivered_once_each(receiver: Receiver, ids: list[int]) -> None:
    """Every ticket's event arrived; a repeat carries the same delivery id."""
    by_ticket: dict[int, set[int]] = defaultdict(set)
    for body in receiver.seen():
        assert body["event"] == "ticket.opened"
        by_ticket[body["ticket"]["id"]].add(body["delivery_id"])
    missing = sorted(set(ids) - set(by_ticket))
    assert not missing, f"{len(missing)} ticket events never delivered, e.g. {missing[:5]}"
    assert all(len(d) == 1 for d in by_ticket.values()), "one event, two delivery ids"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkilled_duty_owner_another_hub_takes_every_duty_and_no_event_is_lost(
    rig: tuple[sessionmaker[Session], Receiver, dict[str, HubProcess]], seed: int
) -> None:
    sessions, receiver, hubs = rig
    with Tickets(sessions, seed) as made:
        time.sleep(random.Random(seed).uniform(0.5, 2.5))  # a seeded point in the stream
        hubs["hub-a"].kill()
        took = wait_until(
            lambda: _all_moved_to(sessions, "hub-b"),
            timeout_s=TAKEOVER_LIMIT_S,
            what="hub-b taking over every duty",
        )
        time.sleep(1.0)
    wait_until(
        lambda: {b["ticket"]["id"] for b in receiver.seen()} >= set(made.ids),
        timeout_s=30,
        what="every ticket event delivered",
    )
    _delivered_once_each(receiver, made.ids)
    assert took <= TAKEOVER_LIMIT_S
    assert "duty webhooks: taken" in hubs["hub-b"].text()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_hub_hung_past_its_lease_loses_its_duties_and_stops_them_when_it_wakes(
    rig: tuple[sessionmaker[Session], Receiver, dict[str, HubProcess]], seed: int
) -> None:
    sessions, receiver, hubs = rig
    hung = hubs["hub-a"]
    with Tickets(sessions, seed) as made:
        time.sleep(random.Random(seed).uniform(0.5, 2.5))
        hung.signal(signal.SIGSTOP)
        wait_until(
            lambda: _all_moved_to(sessions, "hub-b"),
            timeout_s=TAKEOVER_LIMIT_S,
            what="hub-b taking over from the hung hub",
        )
        time.sleep(1.0)  # hub-b delivers for a while; hub-a is still hung
        hung.signal(signal.SIGCONT)
        wait_until(
            lambda: hung.text().count(": lost (") >= len(DUTIES),
            timeout_s=3,
            what="the woken hub giving up its duties",
        )
        time.sleep(LEASE_S)  # the woken hub must not take any duty back
        assert _all_moved_to(sessions, "hub-b")
    wait_until(
        lambda: {b["ticket"]["id"] for b in receiver.seen()} >= set(made.ids),
        timeout_s=30,
        what="every ticket event delivered",
    )
    _delivered_once_each(receiver, made.ids)
    log = hung.text()
    for duty in DUTIES:  # it stopped on its own clock, before asking the database
        assert (
            f"duty {duty}: lost (woke after the lease's safe time)" in log
            or f"duty {duty}: lost (lease not confirmed" in log
        ), duty


def test_an_alert_acknowledged_on_one_hub_reaches_an_operator_stream_on_the_other(
    rig: tuple[sessionmaker[Session], Receiver, dict[str, HubProcess]],
) -> None:
    sessions, _, hubs = rig
    now = datetime.now(UTC)
    token = auth.bootstrap_token(sessions, name="olle", role="operator", now=now)
    with sessions.begin() as s:  # raised as a third hub's rules would
        (alert,) = store.apply(
            s, [AlertRaise("arena-north", "crowdLevel", "Severe", {})], now=now, where={}
        )
    heard: list[dict[str, object]] = []
    opened = threading.Event()

    def listen() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{hubs['hub-b'].url}/api/v1/alerts/stream"
        with httpx.stream("GET", url, headers=headers, timeout=15) as r:
            opened.set()
            for line in r.iter_lines():
                if line.startswith("data:"):
                    heard.append(json.loads(line[5:]))
                    if heard[-1]["status"] == "acknowledged":
                        return

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    assert opened.wait(10)
    time.sleep(0.5)  # the stream's subscription is in place
    r = httpx.post(
        f"{hubs['hub-a'].url}/api/v1/alerts/{alert.id}/acknowledge",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    reader.join(timeout=10)
    assert [(h["id"], h["status"]) for h in heard] == [
        (alert.id, "raised"),
        (alert.id, "acknowledged"),
    ]


def test_alert_changes_a_killed_deliverer_left_reach_the_receiver_from_the_other_hub(
    rig: tuple[sessionmaker[Session], Receiver, dict[str, HubProcess]],
) -> None:
    sessions, _, hubs = rig
    alerts = Receiver()
    with alerts.running():
        with sessions.begin() as s:
            webhooks.subscribe(
                s,
                url=alerts.url,
                secret="a" * 32,
                events=["alert.raised", "alert.acknowledged"],
                now=datetime.now(UTC),
            )
        hubs["hub-a"].kill()  # the holder of every duty, alert delivery among them, dies
        now = datetime.now(UTC)
        with sessions.begin() as s:  # committed, and nobody alive to deliver it yet
            raised = store.apply(
                s,
                [
                    AlertRaise("arena-north", "crowdLevel", "Severe", {}),
                    AlertRaise("arena-south", "crowdRising", "Moderate", {}),
                ],
                now=now,
                where={},
            )
        with sessions.begin() as s:
            acked = store.step(s, raised[1].id, "acknowledge", now=now, by="olle")
        wait_until(
            lambda: holder(sessions, "duty:alert-delivery") == "hub-b",
            timeout_s=TAKEOVER_LIMIT_S,
            what="hub-b taking the alert delivery",
        )
        want = {(a.id, a.status) for a in (*raised, acked)}
        wait_until(
            lambda: {(b["alert"]["id"], b["alert"]["status"]) for b in alerts.seen()} >= want,
            timeout_s=20,
            what="every alert state delivered",
        )
        time.sleep(1.0)  # a repeat, were there one, would arrive now
    by_state: dict[tuple[int, str], set[int]] = defaultdict(set)
    for body in alerts.seen():
        by_state[(body["alert"]["id"], body["alert"]["status"])].add(body["delivery_id"])
    assert set(by_state) == want
    assert all(len(d) == 1 for d in by_state.values()), "one alert state, two delivery ids"
