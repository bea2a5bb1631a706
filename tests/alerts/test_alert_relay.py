"""Alert changes of another hub reach this hub's bus through the shared database (SQLite and
PostgreSQL): two buses, as two hub processes would have, one database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts import store
from hub.alerts.events import Bus
from hub.alerts.model import Alert, AlertClear, AlertRaise
from hub.alerts.relay import Relay
from hub.db import open_database

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def sessions(sql_url: str) -> Iterator[sessionmaker[Session]]:
    factory = open_database(sql_url)
    yield factory
    factory.kw["bind"].dispose()


def _raise(sessions: sessionmaker[Session], bus: Bus, zone: str) -> Alert:
    with sessions.begin() as s:
        changed = store.apply(
            s, [AlertRaise(zone, "crowdLevel", "Severe", {"density": 2.5})], now=NOW, where={}
        )
    bus.publish(changed)
    return changed[0]


def test_another_hubs_changes_are_published_once_and_this_hubs_own_not_again(
    sessions: sessionmaker[Session],
) -> None:
    _raise(sessions, Bus(), "old-zone")  # before the relay started: not news
    bus_a, bus_b = Bus(), Bus()
    heard_a: list[Alert] = []
    heard_b: list[Alert] = []
    bus_a.subscribe(heard_a.append)
    bus_b.subscribe(heard_b.append)
    made_b: list[Alert] = []  # what hub B's alert delivery hears: B's own changes only
    bus_b.subscribe(made_b.append, local_only=True)
    relay_a = Relay(sessions=sessions, bus=bus_a)
    relay_b = Relay(sessions=sessions, bus=bus_b)
    relay_a.start()
    relay_b.start()

    raised = _raise(sessions, bus_a, "arena-north")  # hub A's rules raise it
    for relay, bus in ((relay_a, bus_a), (relay_b, bus_b)):
        bus.publish(relay.poll(), relayed=True)  # the row waits one poll
        bus.publish(relay.poll(), relayed=True)
    assert [(a.id, a.status) for a in heard_a] == [(raised.id, "raised")]
    assert [(a.id, a.status) for a in heard_b] == [(raised.id, "raised")]

    with sessions.begin() as s:  # an operator acknowledges on hub B
        acked = store.step(s, raised.id, "acknowledge", now=NOW + timedelta(seconds=5), by="op")
    bus_b.publish([acked])
    for _ in range(2):
        bus_a.publish(relay_a.poll(), relayed=True)
        bus_b.publish(relay_b.poll(), relayed=True)
    with sessions.begin() as s:  # and hub A's rules resolve it
        cleared = store.apply(
            s, [AlertClear("arena-north", "crowdLevel")], now=NOW + timedelta(seconds=9), where={}
        )
    bus_a.publish(cleared)
    for _ in range(2):
        bus_a.publish(relay_a.poll(), relayed=True)
        bus_b.publish(relay_b.poll(), relayed=True)
    assert [a.status for a in heard_a] == ["raised", "acknowledged", "resolved"]
    assert [a.status for a in heard_b] == ["raised", "acknowledged", "resolved"]
    assert [a.status for a in made_b] == ["acknowledged"]
    assert relay_a.relayed == 1  # only the acknowledgement came from elsewhere
    assert relay_b.relayed == 2
