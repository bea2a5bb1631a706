"""Which stored grain answers which part of a period: months, days, then hours. Pure.

The roll-up sums finished Stockholm calendar days of ``asset_hours`` into day rows and
finished months of day rows into month rows, keeping a mark of the first day (and month)
not yet summed. A period is read from the coarsest rows that cover it exactly: its whole
months already summed, then its days already summed, then the hours of the rest (the
recent days), so a year is a dozen rows per asset and state value instead of 8,760.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from hub.followup.periods import Period


def next_month(d: date) -> date:
    """The first day of the month after ``d``'s."""
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def day_bounds(first: date, last: date) -> tuple[int, int]:
    """UTC ms of the local midnight opening ``first`` and of the one closing ``last``."""
    p = Period(first, last, "")
    return p.start_ms, p.end_ms


@dataclass(frozen=True, slots=True)
class Plan:
    """A period split by grain: month starts, day ranges (both days included), and the
    UTC hours left (``None`` when the days and months cover it all)."""

    months: tuple[date, ...]  # consecutive: whole months lie between partial ones
    days: tuple[tuple[date, date], ...]
    hours: tuple[int, int] | None


def plan(first: date, last: date, *, days_until: date | None, months_until: date | None) -> Plan:
    """Split the days ``first..last``: a whole calendar month before ``months_until`` comes
    from its month rows, another day before ``days_until`` from its day row, the rest from
    hours. ValueError if ``last`` is before ``first``."""
    if last < first:
        raise ValueError(f"days {first}..{last}: the last is before the first")
    months: list[date] = []
    days: list[tuple[date, date]] = []
    d = first
    while d <= last:
        end = next_month(d)
        whole = d.day == 1 and end - timedelta(days=1) <= last
        if whole and months_until is not None and end <= months_until:
            months.append(d)
            d = end
        elif days_until is not None and d < days_until:
            if days and days[-1][1] + timedelta(days=1) == d:
                days[-1] = (days[-1][0], d)
            else:
                days.append((d, d))
            d += timedelta(days=1)
        else:
            break
    hours = day_bounds(d, last) if d <= last else None
    return Plan(tuple(months), tuple(days), hours)
