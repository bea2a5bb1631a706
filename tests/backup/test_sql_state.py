"""What a restored hub resumes from: every table of the SQL database, row for row, on
SQLite and on PostgreSQL (users and tokens, tickets with history and comments, webhooks
and their outbox, rule state, devices with watermarks and counters)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine, select

from hub import tickets, webhooks
from hub.auth import bootstrap_token
from hub.backup import run
from hub.backup.errors import BackupError
from hub.backup.run import Sources
from hub.db import RuleState, open_database
from hub.devices import register
from tests.backup.test_round_trip import destroy_sql

pytestmark = pytest.mark.integration

PHRASE = b"correct horse battery staple"
NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)


def every_row(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Each table's rows in a stable order, by reflection (so a new table is included)."""
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        out = {
            name: sorted((tuple(r) for r in conn.execute(select(table))), key=repr)
            for name, table in meta.tables.items()
        }
    engine.dispose()
    return out


def populate(url: str) -> None:
    sessions = open_database(url)
    register(sessions, [("pole-1", "centrum"), ("pole-2", "hagalund")])
    bootstrap_token(sessions, name="ops", role="operator", now=NOW)
    with sessions.begin() as s:
        t = tickets.create_ticket(
            s, kind="graffiti", reporter="ops", now=NOW, lat=59.36, lon=18.0, asset_id=None
        )
        tickets.comment(s, ticket_id=t.id, author="ops", now=NOW, text="on the bridge")
        tickets.acknowledge(s, ticket_id=t.id, actor="ops", now=NOW)
        webhooks.subscribe(s, url="https://cases.example/hook", secret="s" * 32, events=[], now=NOW)
        s.add(RuleState(key="lamp:pole-1-lamp0", state={"baseline": 0.041}, updated_at=NOW))
    with sessions.begin() as s:
        webhooks.enqueue(s, now=NOW)
    sessions.kw["bind"].dispose()


def test_every_table_comes_back_row_for_row(sql_url: str, tmp_path: Path) -> None:
    populate(sql_url)
    before = every_row(sql_url)
    assert before["users"]
    assert before["tickets"]
    assert before["ticket_history"]
    assert before["webhook_subscriptions"]
    sources = Sources(database_url=sql_url, influx=None)
    run.take(sources, tmp_path / "b", PHRASE, NOW)
    with pytest.raises(BackupError, match="SQL database has tables"):
        run.restore(tmp_path / "b", sources, PHRASE, force=False)
    destroy_sql(sql_url)
    assert every_row(sql_url) == {}
    run.restore(tmp_path / "b", sources, PHRASE, force=False)
    assert every_row(sql_url) == before
