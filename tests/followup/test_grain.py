"""Which grain answers which days of a period (hub/followup/grain.py)."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from hub.followup.grain import Plan, day_bounds, next_month, plan
from hub.followup.periods import parse_period

D = date


@pytest.mark.parametrize(
    ("first", "last", "days_until", "months_until", "expected"),
    [
        # nothing summed yet: all hours
        (
            D(2026, 3, 1),
            D(2026, 3, 31),
            None,
            None,
            Plan((), (), day_bounds(D(2026, 3, 1), D(2026, 3, 31))),
        ),
        # a whole summed year: twelve months, no days, no hours
        (
            D(2025, 1, 1),
            D(2025, 12, 31),
            D(2026, 3, 5),
            D(2026, 3, 1),
            Plan(tuple(D(2025, m, 1) for m in range(1, 13)), (), None),
        ),
        # a month whose days are summed but not yet the month itself
        (
            D(2026, 2, 1),
            D(2026, 2, 28),
            D(2026, 3, 1),
            D(2026, 2, 1),
            Plan((), ((D(2026, 2, 1), D(2026, 2, 28)),), None),
        ),
        # partial months at both ends, summed months between, recent days from hours
        (
            D(2026, 1, 15),
            D(2026, 3, 10),
            D(2026, 3, 5),
            D(2026, 3, 1),
            Plan(
                (D(2026, 2, 1),),
                ((D(2026, 1, 15), D(2026, 1, 31)), (D(2026, 3, 1), D(2026, 3, 4))),
                day_bounds(D(2026, 3, 5), D(2026, 3, 10)),
            ),
        ),
    ],
)
def test_plan_takes_the_coarsest_grain_that_covers_each_day(
    first: date, last: date, days_until: date | None, months_until: date | None, expected: Plan
) -> None:
    assert plan(first, last, days_until=days_until, months_until=months_until) == expected


def test_the_plan_covers_each_hour_of_the_period_exactly_once() -> None:
    p = parse_period("2026-Q1")
    got = plan(p.first, p.last, days_until=D(2026, 3, 20), months_until=D(2026, 3, 1))
    pieces = [day_bounds(m, D.fromordinal(next_month(m).toordinal() - 1)) for m in got.months]
    pieces += [day_bounds(a, b) for a, b in got.days]
    pieces += [got.hours] if got.hours else []
    pieces.sort()
    assert pieces[0][0] == p.start_ms
    assert pieces[-1][1] == p.end_ms
    assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))
    assert sum(b - a for a, b in pieces) == p.hours * 3_600_000


def test_a_reversed_range_is_refused() -> None:
    with pytest.raises(ValueError, match="before the first"):
        plan(D(2026, 3, 2), D(2026, 3, 1), days_until=None, months_until=None)


def test_next_month_crosses_the_year() -> None:
    assert next_month(D(2026, 12, 31)) == D(2027, 1, 1)
    assert next_month(D(2026, 1, 31)) == D(2026, 2, 1)
