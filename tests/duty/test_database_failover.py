"""The hub's SQL URL may name several PostgreSQL hosts (libpq's multi-host list) with
``target_session_attrs=read-write``: SQLAlchemy with psycopg 3 then connects to whichever
host takes writes, and after a failover (the old primary gone, the standby promoted) the
same engine reaches the new primary.

Two real servers stand in for Patroni's pair: replication itself is PostgreSQL's (and the
failover manager's) job, not the hub's, so both get the schema and the standby is made
read-only the way a hot standby reports itself to libpq (``default_transaction_read_only``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from hub.db import open_database
from tests.duty.hubs import wait_until
from tests.needs import unavailable
from trygg.pgserver import PostgresServer
from trygg.stack import StackError

pytestmark = pytest.mark.integration


@pytest.fixture
def pair() -> Iterator[tuple[PostgresServer, PostgresServer]]:
    servers = (PostgresServer(), PostgresServer())
    try:
        for server in servers:
            server.start()
    except StackError as exc:
        for server in servers:
            server.stop()
        unavailable(f"PostgreSQL could not start: {exc}")
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def _read_only(server: PostgresServer, *, on: bool) -> None:
    engine = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(
            sa.text(f"ALTER SYSTEM SET default_transaction_read_only = {'on' if on else 'off'}")
        )
        c.execute(sa.text("SELECT pg_reload_conf()"))
    engine.dispose()


def _port(sessions: sa.orm.sessionmaker[sa.orm.Session]) -> int | None:
    try:
        with sessions() as s:
            return int(s.scalar(sa.text("SELECT inet_server_port()")) or 0)
    except OperationalError:
        return None


def test_a_multi_host_url_follows_the_primary_through_a_failover(
    pair: tuple[PostgresServer, PostgresServer],
) -> None:
    primary, standby = pair
    for server in pair:
        open_database(server.url()).kw["bind"].dispose()  # the schema on both
    _read_only(standby, on=True)
    url = (
        f"postgresql+psycopg://postgres@/postgres?host=127.0.0.1:{standby.port}"
        f"&host=127.0.0.1:{primary.port}&target_session_attrs=read-write"
    )
    sessions = open_database(url, migrate=False)
    try:
        assert _port(sessions) == primary.port, "the standby is listed first, yet skipped"
        primary.stop()  # the primary dies; the failover manager promotes the standby
        _read_only(standby, on=False)
        wait_until(lambda: _port(sessions) == standby.port, timeout_s=20, what="new primary")
        with sessions.begin() as s:  # and it takes writes
            s.execute(sa.text("INSERT INTO counters (name, value) VALUES ('failover', 1)"))
        with sessions() as s:
            assert s.scalar(sa.text("SELECT value FROM counters WHERE name = 'failover'")) == 1
    finally:
        sessions.kw["bind"].dispose()
