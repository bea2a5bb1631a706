"""Shared fixtures: the real local stack (Mosquitto + InfluxDB) and unique names per test."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest

from tests.needs import unavailable
from trygg.pgserver import PostgresServer, ScratchDatabases
from trygg.stack import LocalStack, StackError, StackPorts, free_port

# Property tests check what the code does, not how fast: on a loaded machine a per-example
# deadline only makes them flaky.
hypothesis.settings.register_profile("trygg", deadline=None)
hypothesis.settings.load_profile("trygg")


def start_stack(path: Path, **options: bool | int) -> LocalStack:
    """A started local stack on free ports (``options`` go to LocalStack); fails in CI."""
    stack = LocalStack(
        state_dir=path,
        ports=StackPorts(mqtt=free_port(), influx=free_port(), influx_rpc=free_port()),
        **options,  # type: ignore[arg-type]
    )
    try:
        stack.up()
    except StackError as exc:
        unavailable(f"local stack could not start: {exc}")
    return stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """One real Mosquitto + InfluxDB for the session (tests use unique dbs and devices)."""
    s = start_stack(tmp_path_factory.mktemp("stack"))
    yield s
    s.down()


@pytest.fixture
def private_stack(tmp_path: Path) -> Iterator[LocalStack]:
    """A stack of its own, for tests that kill and restart services."""
    s = start_stack(tmp_path / "stack")
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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ScratchDatabases]:
    """The session's PostgreSQL: $TRYGG_TEST_POSTGRES_URL (an admin URL) when set, else a
    server of the tests' own, started on first use and stopped at the end.

    Skips when none can be had, except under CI=true, where that is a failure.
    """
    external = os.environ.get("TRYGG_TEST_POSTGRES_URL")
    if external:
        yield ScratchDatabases(external)
        return
    server = PostgresServer()
    try:
        server.start()
    except StackError as exc:
        unavailable(f"PostgreSQL could not start: {exc}")
    try:
        yield ScratchDatabases(server.url())
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: ScratchDatabases, unique: str) -> Iterator[str]:
    """A new, empty database on the session's PostgreSQL, dropped afterwards."""
    name = f"trygg_{unique}"
    try:
        url = postgres_server.create(name)
    except StackError as exc:
        unavailable(str(exc))
    yield url
    postgres_server.drop(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on an embedded SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/hub.sqlite"
    return str(request.getfixturevalue("postgres_url"))
