"""Migration ``0011_alert_notices`` on SQLite and PostgreSQL: alert changes made before it
count as delivered (an upgrade sends nothing again), changes after it wait for delivery,
and it goes down and up again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from hub.alert_delivery import pending
from hub.alerts import store
from hub.alerts.model import AlertRaise
from hub.db import MIGRATIONS, open_database

pytestmark = pytest.mark.integration  # real SQLite and PostgreSQL
T0 = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)


def _alembic(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _backlog(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return pending.backlog(s)


def test_changes_from_before_the_upgrade_are_not_sent_again(sql_url: str) -> None:
    cfg = _alembic(sql_url)
    command.upgrade(cfg, "0010_join")
    engine = create_engine(sql_url)
    with engine.begin() as c:  # an alert raised and acknowledged by a hub of the old schema
        c.execute(
            text(
                "INSERT INTO alerts (kind, severity, status, zone, figures, raised_at,"
                " escalation_level) VALUES ('binFire', 'Severe', 'acknowledged', 'torg',"
                " '{}', :t, 0)"
            ),
            {"t": T0},
        )
        alert_id = c.execute(text("SELECT id FROM alerts")).scalar_one()
        for step, old, new in (("raise", "", "raised"), ("acknowledge", "raised", "acknowledged")):
            c.execute(
                text(
                    "INSERT INTO alert_history (alert_id, step, actor, at, old, new)"
                    " VALUES (:alert, :step, 'rule', :t, :old, :new)"
                ),
                {"alert": alert_id, "step": step, "t": T0, "old": old, "new": new},
            )
    engine.dispose()
    sessions = open_database(sql_url)  # to head
    try:
        assert _backlog(sessions) == 0
        with sessions.begin() as s:
            store.apply(s, [AlertRaise("arena", "crowdLevel", "Severe", {})], now=T0, where={})
        assert _backlog(sessions) == 1
        with sessions() as s:
            (waiting,) = pending.take(s, limit=5)
        assert waiting.alert["zone"] == "arena"
    finally:
        sessions.kw["bind"].dispose()
    command.downgrade(cfg, "0010_join")
    command.upgrade(cfg, "heads")
    sessions = open_database(sql_url, migrate=False)
    try:
        assert _backlog(sessions) == 0  # down and up again: what was there counts as sent
    finally:
        sessions.kw["bind"].dispose()
