"""The ``asset_spans`` table: per asset, state field and value, the seconds of one
Stockholm calendar day or month, summed in SQL from the finer rows; and sums over ranges.

Sums run over whole milliseconds (seconds are stored to three decimals) so they are exact
whatever the order: a period read from months, days or hours gives the very same figures.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, Date, String, delete, func, insert, literal, select
from sqlalchemy.orm import Session

from hub.db import AssetHour, AssetSpan
from hub.followup.grain import day_bounds, next_month
from hub.followup.hours import HourRow
from trygg.clock import from_ms

Span = Literal["day", "month"]
DAY: Final[Span] = "day"
MONTH: Final[Span] = "month"

_H = AssetHour.__table__.c
_S = AssetSpan.__table__.c


def _milli(col: Any) -> ColumnElement[Any]:
    return func.sum(func.round(col * 1000))


def _grouped(t: Any, *where: ColumnElement[bool]) -> Any:
    """Per asset, field and value: kind, site, milliseconds, milli-Wh and events."""
    return (
        select(
            t.asset,
            t.field,
            t.value,
            func.max(t.kind),
            func.max(t.site),
            _milli(t.seconds),
            _milli(t.amount),
            func.sum(t.count),
        )
        .where(*where)
        .group_by(t.asset, t.field, t.value)
    )


def _hours_in(start_ms: int, end_ms: int) -> list[ColumnElement[bool]]:
    return [_H.hour >= from_ms(start_ms), _H.hour < from_ms(end_ms)]


def _spans_in(span: Span, first: date, last: date) -> list[ColumnElement[bool]]:
    return [_S.span == span, _S.first >= first, _S.first <= last]


def roll_up(s: Session, *, span: Span, first: date) -> int:
    """Replace the rows of the day or month starting ``first`` by the sums of its hours
    (a day) or of its day rows (a month); returns the rows written."""
    if span == DAY:
        t, where = _H, _hours_in(*day_bounds(first, first))
    else:
        if first.day != 1:
            raise ValueError(f"a month starts on its first day, not {first}")
        last = date.fromordinal(next_month(first).toordinal() - 1)
        t, where = _S, _spans_in(DAY, first, last)
    s.execute(delete(AssetSpan).where(_S.span == span, _S.first == first))
    rows = (
        select(
            t.asset,
            literal(span, String(8)),
            literal(first, Date()),
            t.field,
            t.value,
            func.max(t.kind),
            func.max(t.site),
            _milli(t.seconds) / 1000.0,
            _milli(t.amount) / 1000.0,
            func.sum(t.count),
        )
        .where(*where)
        .group_by(t.asset, t.field, t.value)
    )
    cols = ["asset", "span", "first", "field", "value", "kind", "site", "seconds", "amount"]
    s.execute(insert(AssetSpan).from_select([*cols, "count"], rows))
    # psycopg reports no row count for INSERT .. SELECT, so count what was written.
    written = select(func.count()).where(_S.span == span, _S.first == first)
    return int(s.scalar(written) or 0)


def _rows(s: Session, q: Any, at_ms: int) -> list[HourRow]:
    return [
        HourRow(a, kind, site, at_ms, f, v, sec / 1000.0, amt / 1000.0, int(n))
        for a, f, v, kind, site, sec, amt, n in s.execute(q)
    ]


def sum_spans(s: Session, *, span: Span, first: date, last: date, at_ms: int) -> list[HourRow]:
    """Per asset, field and value, the sums of the ``span`` rows starting ``first..last``,
    as rows dated ``at_ms``."""
    return _rows(s, _grouped(_S, *_spans_in(span, first, last)), at_ms)


def sum_hours(s: Session, *, start_ms: int, end_ms: int, at_ms: int) -> list[HourRow]:
    """Per asset, field and value, the sums of the hours in ``[start_ms, end_ms)``, as rows
    dated ``at_ms``."""
    return _rows(s, _grouped(_H, *_hours_in(start_ms, end_ms)), at_ms)


def prune_spans(s: Session, *, before: date) -> int:
    """Delete day and month rows starting before ``before``; returns the rows deleted."""
    result = s.execute(delete(AssetSpan).where(_S.first < before))
    return int(getattr(result, "rowcount", 0) or 0)
