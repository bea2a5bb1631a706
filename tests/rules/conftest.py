"""Fixtures for the rules tests: a migrated database on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.db import open_database


@pytest.fixture
def db_url(sql_url: str) -> str:
    return sql_url


@pytest.fixture
def sessions(db_url: str) -> Any:
    factory: sessionmaker[Session] = open_database(db_url)
    yield factory
    factory.kw["bind"].dispose()
