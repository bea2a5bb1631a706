"""The rules' fleet-wide tick runs on one hub only: alert escalation is skipped by a hub that
does not hold the rules-fleet duty and done by the one that does (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts import store
from hub.alerts.events import Bus
from hub.alerts.model import Alert, AlertRaise
from hub.alerts.watch import CrowdWatch, WatchConfig
from hub.db import open_database

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def sessions(sql_url: str) -> Iterator[sessionmaker[Session]]:
    factory = open_database(sql_url)
    yield factory
    factory.kw["bind"].dispose()


def test_only_the_fleet_wide_hub_escalates(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        (alert,) = store.apply(s, [AlertRaise("z", "crowdLevel", "Severe")], now=NOW, where={})
    later = NOW + timedelta(seconds=200)  # past the acknowledgement timeout
    heard: dict[str, list[Alert]] = {"a": [], "b": []}
    watches = {}
    for name, got in heard.items():
        bus = Bus()
        bus.subscribe(got.append)
        watches[name] = CrowdWatch(bus=bus, config=WatchConfig(ack_timeout_s=120, chain=2))
    with sessions.begin() as s:
        watches["a"].tick(s, now=later, devices={}, escalate=False)
    watches["a"].publish()
    assert heard["a"] == []
    with sessions.begin() as s:
        watches["b"].tick(s, now=later, devices={}, escalate=True)
    watches["b"].publish()
    assert [(x.id, x.status, x.escalation_level) for x in heard["b"]] == [
        (alert.id, "escalated", 1)
    ]
    with sessions() as s:
        assert [h.step for h in store.history(s, alert.id)] == ["raise", "escalate"]
