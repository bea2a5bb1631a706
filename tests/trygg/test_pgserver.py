"""The tests' own PostgreSQL: found, started as an unprivileged user, reachable with trust
on loopback only, scratch databases created and dropped, everything gone after stop."""

from __future__ import annotations

import os
import pwd
import socket
from pathlib import Path

import psycopg
import pytest

from tests.needs import in_ci
from trygg.pgserver import PostgresServer, ScratchDatabases, find_bindir
from trygg.stack import StackError, free_port


def test_the_newest_debian_server_is_chosen(tmp_path: Path) -> None:
    for version in ("9.6", "15", "13", "16"):
        (tmp_path / version / "bin").mkdir(parents=True)
        (tmp_path / version / "bin" / "initdb").touch()
    (tmp_path / "17" / "bin").mkdir(parents=True)  # a client-only install: no initdb
    assert find_bindir(tmp_path) == tmp_path / "16" / "bin"


def test_no_server_binaries_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError, match="apt-get install postgresql"):
        find_bindir(tmp_path)


@pytest.mark.integration
def test_a_server_of_its_own_starts_serves_and_leaves_nothing() -> None:
    server = PostgresServer()
    try:
        server.start()
    except StackError as exc:
        if in_ci():
            raise
        pytest.skip(str(exc))
    try:
        root = server.root
        assert root is not None
        assert root.is_dir()
        owner = root.stat().st_uid
        assert owner != 0, "PostgreSQL must not run as root"
        if os.geteuid() == 0:
            assert owner == pwd.getpwnam("postgres").pw_uid
        assert server.port != 5432
        dbs = ScratchDatabases(server.url())
        url = dbs.create("trygg_probe")
        assert url == f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/trygg_probe"
        conninfo = f"host=127.0.0.1 port={server.port} user=postgres dbname=trygg_probe"
        with psycopg.connect(conninfo) as conn:
            row = conn.execute("SELECT current_user, inet_server_addr()::text").fetchone()
            assert row == ("postgres", "127.0.0.1/32")
        # Its own socket too, not the machine's /var/run/postgresql.
        sock = f"host={server.socket_dir} port={server.port} user=postgres dbname=trygg_probe"
        with psycopg.connect(sock) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        dbs.drop("trygg_probe")
        with pytest.raises(psycopg.OperationalError, match="does not exist"):
            psycopg.connect(conninfo, connect_timeout=3)
    finally:
        server.stop()
    assert not root.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"host=127.0.0.1 port={server.port} user=postgres", connect_timeout=3)


@pytest.mark.integration
def test_a_port_taken_meanwhile_is_replaced_by_another() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = PostgresServer(port=port)
        try:
            server.start()
        except StackError as exc:
            if in_ci() or "could not bind" in str(exc):
                raise
            pytest.skip(str(exc))
        try:
            assert server.port != port
            with psycopg.connect(f"host=127.0.0.1 port={server.port} user=postgres") as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        finally:
            server.stop()


def test_an_unreachable_server_is_a_clear_error() -> None:
    dbs = ScratchDatabases(f"postgresql://postgres:secret@127.0.0.1:{free_port()}/postgres")
    with pytest.raises(StackError, match=r"postgres:\*\*\*@127\.0\.0\.1") as err:
        dbs.create("trygg_x")
    assert "secret" not in str(err.value)


@pytest.mark.integration
def test_the_fixture_gives_a_fresh_empty_database(postgres_url: str) -> None:
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)
        assert ":5432/" not in postgres_url
