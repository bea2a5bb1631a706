"""Sums finished days of ``asset_hours`` into day rows and finished months into month rows,
and prunes each grain past its retention.

Called in the history writer's transaction after each stored hour. A day is summed once
every hour of it is stored (the hours mark is past its local midnight), a month once its
last day is; the first day (and month) not yet summed is kept in ``counters``, so the
figures know which grain covers which day (:mod:`hub.followup.grain`). Hours are kept as
long as InfluxDB keeps raw readings and never before their day is summed; days and months
five years, so a five-year plan's figures can be recomputed.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.db import AssetHour, AssetSpan
from hub.db import Counter as CounterRow
from hub.followup.grain import day_bounds, next_month
from hub.followup.periods import STOCKHOLM
from hub.followup.spans import DAY, MONTH, prune_spans, roll_up
from hub.followup.store import RETENTION_DAYS, prune

log = logging.getLogger(__name__)

HOURS_MARK: Final = "followup.hours_until"
DAYS_MARK: Final = "followup.days_until"
MONTHS_MARK: Final = "followup.months_until"
# Raw readings stay 90 days in InfluxDB: an hour can be recomputed as long as it is kept.
HOURS_KEPT_DAYS: Final = 92
# A restart after an outage, or a first start over existing hours, catches up this much.
MAX_DAYS_PER_CALL: Final = 31


def _mark(s: Session, name: str) -> int | None:
    row = s.get(CounterRow, name)
    return row.value if row else None


def marks(s: Session) -> tuple[date | None, date | None]:
    """The first day and the first month not yet summed (None before any roll-up)."""
    days, months = _mark(s, DAYS_MARK), _mark(s, MONTHS_MARK)
    return (
        date.fromordinal(days) if days else None,
        date.fromordinal(months) if months else None,
    )


def _local_day(when: datetime) -> date:
    return when.astimezone(STOCKHOLM).date()


def roll_up_due(s: Session, *, now_ms: int) -> int:
    """Sum the days and months whose hours are all stored (at most ``MAX_DAYS_PER_CALL``
    days), advance the marks and prune; returns the day and month rows written."""
    hours_until = _mark(s, HOURS_MARK)
    if hours_until is None:
        return 0
    days_until, months_until = marks(s)
    if days_until is None:
        first_hour = s.scalar(select(func.min(AssetHour.hour)))
        if first_hour is None:
            return 0
        days_until = _local_day(first_hour)
    written = 0
    for _ in range(MAX_DAYS_PER_CALL):
        if day_bounds(days_until, days_until)[1] > hours_until:
            break
        written += roll_up(s, span=DAY, first=days_until)
        days_until += timedelta(days=1)
    s.merge(CounterRow(name=DAYS_MARK, value=days_until.toordinal()))
    if months_until is None:
        first_day = s.scalar(select(func.min(AssetSpan.first)).where(AssetSpan.span == DAY))
        months_until = (first_day or days_until).replace(day=1)
    while next_month(months_until) <= days_until:
        written += roll_up(s, span=MONTH, first=months_until)
        months_until = next_month(months_until)
    s.merge(CounterRow(name=MONTHS_MARK, value=months_until.toordinal()))
    kept_from = now_ms - HOURS_KEPT_DAYS * 24 * 3_600_000
    summed_to = day_bounds(days_until, days_until)[0]
    prune(s, now_ms=min(kept_from, summed_to), days=0)
    today = _local_day(datetime.fromtimestamp(now_ms / 1000, tz=STOCKHOLM))
    prune_spans(s, before=today - timedelta(days=RETENTION_DAYS))
    if written:
        log.info("summed the asset history up to %s (%d rows)", days_until, written)
    return written
