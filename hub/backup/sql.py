"""The SQL database in a backup: SQLite through its online backup API, PostgreSQL through
``pg_dump``/``pg_restore`` in custom format. Both copies are consistent while the hub runs
(one snapshot transaction). Connection secrets go to the tools through the environment,
never their command line.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from hub.backup.errors import BackupError
from hub.db import MIGRATIONS

SQLITE_FILE = "sql/hub.sqlite"
PG_FILE = "sql/hub.pgdump"


def dialect(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in {"sqlite", "postgresql"}:
        raise BackupError(f"cannot back up a {name} database (SQLite and PostgreSQL only)")
    return name


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(url.database)


def _pg_env(url: URL) -> dict[str, str]:
    env = dict(os.environ)
    for var, value in (
        ("PGHOST", url.host),
        ("PGPORT", url.port),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
    ):
        if value is not None:
            env[var] = str(value)
    return env


def _run(argv: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise BackupError(
            f"{argv[0]} is not installed (apt-get install postgresql-client)"
        ) from exc
    if done.returncode != 0:
        raise BackupError(f"{argv[0]} failed: {done.stderr.strip()[-2000:]}")


def _sqlite_copy(src_uri: str, dest: str, *, journal: str | None = None) -> None:
    """Copy a SQLite database page by page (the online backup API: consistent while the
    hub writes); ``journal`` sets the copy's journal mode."""
    try:
        src = sqlite3.connect(src_uri, uri=True)
        try:
            dst = sqlite3.connect(dest)
            try:
                src.backup(dst)
                if journal is not None:
                    dst.execute(f"PRAGMA journal_mode={journal}")
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise BackupError(f"copying the SQLite database failed: {exc}") from exc


def revisions(url: str) -> tuple[str, ...]:
    """The database's Alembic revisions (its heads), empty for an empty database."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return ()
            rows = conn.execute(text("SELECT version_num FROM alembic_version"))
            return tuple(sorted(str(r[0]) for r in rows))
    except SQLAlchemyError as exc:
        raise BackupError(f"cannot read the SQL database: {exc}") from exc
    finally:
        engine.dispose()


def known_revisions() -> set[str]:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return {s.revision for s in ScriptDirectory.from_config(cfg).walk_revisions()}


def is_empty(url: str) -> bool:
    """True when the database has no tables (a restore may go there without --force)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_path(parsed)
        if not path.exists() or path.stat().st_size == 0:
            return True
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return not inspect(conn).get_table_names()
    except SQLAlchemyError as exc:
        raise BackupError(f"cannot open the target SQL database: {exc}") from exc
    finally:
        engine.dispose()


def backup(url: str, root: Path) -> str:
    """Copy the database at ``url`` into ``root``; returns the copy's relative path."""
    parsed = make_url(url)
    if dialect(url) == "sqlite":
        src_path = _sqlite_path(parsed)
        if not src_path.exists():
            raise BackupError(f"the SQLite database {src_path} does not exist")
        dest = root / SQLITE_FILE
        dest.parent.mkdir(parents=True, exist_ok=True)
        # One self-contained file: a WAL-mode copy would grow -wal/-shm files when read.
        _sqlite_copy(f"file:{src_path}?mode=ro", str(dest), journal="DELETE")
        return SQLITE_FILE
    dest = root / PG_FILE
    dest.parent.mkdir(parents=True, exist_ok=True)
    _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(dest)], _pg_env(parsed))
    return PG_FILE


def restore(url: str, root: Path, *, force: bool) -> None:
    """Replace the database at ``url`` with the copy in ``root`` (emptied first with
    ``force``; the caller has checked it is empty otherwise)."""
    parsed = make_url(url)
    if dialect(url) == "sqlite":
        target = _sqlite_path(parsed)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Writing through a connection (not replacing the file) keeps a stale -wal file
        # from being replayed over the restored pages.
        _sqlite_copy(f"file:{root / SQLITE_FILE}?mode=ro&immutable=1", str(target))
        return
    if force:
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        finally:
            engine.dispose()
    _run(
        [
            "pg_restore",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            "--dbname",
            parsed.database or "",
            str(root / PG_FILE),
        ],
        _pg_env(parsed),
    )
