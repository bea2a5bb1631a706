"""Fixtures for the rules tests: a migrated database on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.db import open_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on an embedded SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/hub.sqlite"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def sessions(db_url: str) -> Any:
    factory: sessionmaker[Session] = open_database(db_url)
    yield factory
    factory.kw["bind"].dispose()
