"""An alert's lifecycle (pure) and its store on SQLite and PostgreSQL: one open alert per
zone and kind, an audit line for every step, escalation when nobody acknowledges."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts import store
from hub.alerts.lifecycle import LifecycleError, Step, advance, escalation_due
from hub.alerts.model import Alert, AlertClear, AlertRaise
from hub.alerts.schedule import Event, Phase, Tightening
from hub.db import open_database

T0 = datetime(2026, 6, 1, 18, 0, tzinfo=UTC)
ALERT = Alert(1, "crowdLevel", "Severe", "raised", "z1", "Arenan", None, {}, T0)


def test_steps_and_refusals() -> None:
    acked, audit = advance(ALERT, "acknowledge", now=T0, by="olle")
    assert (acked.status, acked.acknowledged_at, audit.old, audit.new, audit.by) == (
        "acknowledged",
        T0,
        "raised",
        "acknowledged",
        "olle",
    )
    with pytest.raises(LifecycleError):
        advance(acked, "escalate", now=T0, by="rule")
    with pytest.raises(LifecycleError):
        advance(acked, "acknowledge", now=T0, by="olle")
    done, _ = advance(acked, "resolve", now=T0, by="olle")
    steps: tuple[Step, ...] = ("acknowledge", "escalate", "resolve")
    for step in steps:
        with pytest.raises(LifecycleError):
            advance(done, step, now=T0, by="olle")
    up, _ = advance(ALERT, "escalate", now=T0, by="rule")
    assert (up.status, up.escalation_level) == ("escalated", 1)
    acked_late, _ = advance(up, "acknowledge", now=T0, by="olle")
    assert acked_late.status == "acknowledged"


def test_escalation_due_after_the_timeout_and_up_to_the_chain() -> None:
    late = T0 + timedelta(seconds=120)
    assert not escalation_due(ALERT, now=late - timedelta(seconds=1), ack_timeout_s=120, chain=2)
    assert escalation_due(ALERT, now=late, ack_timeout_s=120, chain=2)
    once, _ = advance(ALERT, "escalate", now=late, by="rule")
    assert not escalation_due(once, now=late + timedelta(seconds=119), ack_timeout_s=120, chain=2)
    assert escalation_due(once, now=late + timedelta(seconds=120), ack_timeout_s=120, chain=2)
    twice, _ = advance(once, "escalate", now=late, by="rule")
    assert not escalation_due(twice, now=late + timedelta(hours=1), ack_timeout_s=120, chain=2)


@pytest.fixture
def sessions(sql_url: str) -> Iterator[sessionmaker[Session]]:
    factory = open_database(sql_url)
    yield factory
    factory.kw["bind"].dispose()


def test_store_keeps_one_open_alert_per_zone_and_kind(sessions: sessionmaker[Session]) -> None:
    where = {"z1": store.Where("Arenan", "Derby")}
    with sessions.begin() as s:
        first = store.apply(
            s,
            [AlertRaise("z1", "crowdLevel", "Severe", {"peopleDensity": 1.2})],
            now=T0,
            where=where,
        )
    with sessions.begin() as s:
        again = store.apply(s, [AlertRaise("z1", "crowdLevel", "Severe", {})], now=T0, where=where)
        worse = store.apply(
            s, [AlertRaise("z1", "crowdLevel", "Extreme", {"peopleDensity": 2.4})], now=T0, where={}
        )
    assert len(first) == 1
    assert again == []
    assert [(a.id, a.severity, a.place, a.event) for a in worse] == [
        (first[0].id, "Extreme", "Arenan", "Derby")
    ]
    later = T0 + timedelta(seconds=130)
    with sessions.begin() as s:
        up = store.escalate_due(s, now=later, ack_timeout_s=120, chain=3)
    assert [(a.status, a.escalation_level) for a in up] == [("escalated", 1)]
    with sessions.begin() as s:
        acked = store.step(s, first[0].id, "acknowledge", now=later, by="olle")
        assert (
            store.escalate_due(s, now=later + timedelta(hours=1), ack_timeout_s=120, chain=3) == []
        )
    assert acked.status == "acknowledged"
    with sessions.begin() as s:
        gone = store.apply(s, [AlertClear("z1", "crowdLevel")], now=later, where={})
    assert [a.status for a in gone] == ["resolved"]
    with sessions() as s:
        steps = [(h.step, h.by, h.new) for h in store.history(s, first[0].id)]
        assert store.listing(s, open_only=True, since=None) == []
        assert len(store.listing(s, open_only=False, since=T0)) == 1
        assert store.listing(s, open_only=False, since=later) == []
    assert steps == [
        ("raise", "rule", "raised"),
        ("severity:Extreme", "rule", "raised"),
        ("escalate", "rule", "escalated"),
        ("acknowledge", "olle", "acknowledged"),
        ("resolve", "rule", "resolved"),
    ]
    with sessions.begin() as s, pytest.raises(LookupError):
        store.step(s, 999, "acknowledge", now=later, by="olle")


def test_events_round_trip(sessions: sessionmaker[Session]) -> None:
    ev = Event(
        "Derby",
        "Strawberry Arena",
        ("z1", "z2"),
        50_000,
        (
            Phase("ingress", T0, T0 + timedelta(hours=2)),
            Phase("egress", T0 + timedelta(hours=4), T0 + timedelta(hours=5), Tightening(0.8, 0.5)),
        ),
    )
    with sessions.begin() as s:
        assert store.save_event(s, ev, now=T0) is True
        assert store.save_event(s, ev, now=T0) is False
    with sessions.begin() as s:
        assert store.events(s) == [ev]
        assert store.remove_event(s, "Derby") is True
        assert store.remove_event(s, "Derby") is False
