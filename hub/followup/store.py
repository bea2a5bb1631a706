"""The ``asset_hours`` table: replace whole hours, read a period back, prune past retention.

Writing an hour deletes what was stored for it first, in the same transaction, so writing
the same hour twice leaves the rows of the second write only (idempotent).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.db import AssetHour
from hub.followup.hours import HOUR_MS, HourRow
from trygg.clock import from_ms, to_ms

# Five years and a leap day: the figures must be recomputable for the five-year plan.
RETENTION_DAYS: Final = 5 * 365 + 2


def replace_hours(s: Session, *, start_ms: int, end_ms: int, rows: Iterable[HourRow]) -> int:
    """Store ``rows`` as the whole content of the hours ``[start_ms, end_ms)``; returns the
    rows written. ValueError (nothing written) if a row lies outside the range."""
    batch = list(rows)
    for r in batch:
        if not start_ms <= r.hour_ms < end_ms or r.hour_ms % HOUR_MS:
            raise ValueError(f"row for {r.asset} at {r.hour_ms} is outside the hours written")
    s.execute(
        delete(AssetHour).where(
            AssetHour.hour >= from_ms(start_ms), AssetHour.hour < from_ms(end_ms)
        )
    )
    s.add_all(
        AssetHour(
            asset=r.asset,
            hour=from_ms(r.hour_ms),
            field=r.field,
            value=r.value,
            kind=r.kind,
            site=r.site,
            seconds=r.seconds,
            amount=r.amount,
            count=r.count,
        )
        for r in batch
    )
    return len(batch)


def load_hours(
    s: Session, *, start_ms: int, end_ms: int, kinds: Sequence[str] | None = None
) -> list[HourRow]:
    """Stored rows for the hours in ``[start_ms, end_ms)``, optionally of some kinds."""
    t = AssetHour.__table__.c
    q = select(
        t.asset, t.kind, t.site, t.hour, t.field, t.value, t.seconds, t.amount, t.count
    ).where(t.hour >= from_ms(start_ms), t.hour < from_ms(end_ms))
    if kinds is not None:
        q = q.where(t.kind.in_(list(kinds)))
    # Plain rows, not ORM objects: a year of a city is millions of rows.
    return [
        HourRow(a, k, site, to_ms(h), f, v, sec, amt, n)
        for a, k, site, h, f, v, sec, amt, n in s.execute(q)
    ]


def prune(s: Session, *, now_ms: int, days: int = RETENTION_DAYS) -> int:
    """Delete hours older than ``days``; returns the rows deleted."""
    cut = from_ms(now_ms - days * 24 * HOUR_MS)
    result = s.execute(delete(AssetHour).where(AssetHour.hour < cut))
    return int(getattr(result, "rowcount", 0) or 0)
