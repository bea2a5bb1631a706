"""Shared fixtures: the real local stack (Mosquitto + InfluxDB) and unique names per test."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.shared_data import in_ci
from trygg.stack import LocalStack, StackError, StackPorts, free_port


def _start_stack(path: Path) -> LocalStack:
    stack = LocalStack(
        state_dir=path,
        ports=StackPorts(mqtt=free_port(), influx=free_port(), influx_rpc=free_port()),
    )
    try:
        stack.up()
    except StackError as exc:
        if in_ci():
            pytest.fail(f"local stack could not start: {exc}")
        pytest.skip(f"local stack could not start: {exc}")
    return stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """One real Mosquitto + InfluxDB for the session (tests use unique dbs and devices)."""
    s = _start_stack(tmp_path_factory.mktemp("stack"))
    yield s
    s.down()


@pytest.fixture
def private_stack(tmp_path: Path) -> Iterator[LocalStack]:
    """A stack of its own, for tests that kill and restart services."""
    s = _start_stack(tmp_path / "stack")
    yield s
    s.down()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(autouse=True)
def _no_unexpected_handler_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail any test in which a handler logged an unexpected exception (with a traceback)."""
    yield
    errors = [
        r
        for r in caplog.get_records("call")
        if r.levelno >= logging.ERROR and r.exc_info is not None
    ]
    if errors:
        pytest.fail("unexpected exception logged: " + errors[0].getMessage())


# --- issue 6: a fresh PostgreSQL database per test (server on 127.0.0.1:5432) --------------
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def postgres_url(unique: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL at 127.0.0.1:5432, dropped afterwards.

    Skips when no server answers, except under CI=true, where that is a failure.
    """
    import psycopg
    from psycopg import sql

    name = f"trygg_{unique}"
    try:
        admin = psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres",
            autocommit=True,
            connect_timeout=3,
        )
    except psycopg.OperationalError as exc:
        if in_ci():
            pytest.fail(f"PostgreSQL at 127.0.0.1:5432 unreachable: {exc}")
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 unreachable: {exc}")
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True, connect_timeout=3
    ) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
