"""Retrying a transaction after a transient database error.

Two hub tasks write the ``devices`` rows (ingest and the rules), so under load PostgreSQL
may pick one as a deadlock victim, SQLite may answer "database is locked", and a restarted
database drops the pool's connections. Each such error rolled the transaction back, so
running the same transaction again is exact. A few tries with back-off; still failing,
the error is raised (ingest then acknowledges nothing, and the broker re-delivers).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final, TypeVar

from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)

T = TypeVar("T")
DELAYS_S: Final = (0.05, 0.2, 0.8, 3.0, 10.0)


def transient(fn: Callable[[], T], *, what: str, delays: tuple[float, ...] = DELAYS_S) -> T:
    """``fn()``, run again after each of ``delays`` while it raises OperationalError."""
    for delay in delays:
        try:
            return fn()
        except OperationalError as exc:
            log.warning(
                "%s: transient database error, retrying in %.2fs: %s",
                what,
                delay,
                str(exc).splitlines()[0],
            )
            time.sleep(delay)
    return fn()
