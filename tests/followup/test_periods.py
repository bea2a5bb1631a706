"""Report periods in Stockholm calendar days (hub/followup/periods.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from hub.followup.periods import Period, between, hour_starts, parse_period
from tests.purity import io_imported_by


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@pytest.mark.parametrize(
    ("text", "first", "last", "name", "hours"),
    [
        ("2026-03", date(2026, 3, 1), date(2026, 3, 31), "2026-03", 31 * 24 - 1),
        ("2026-10", date(2026, 10, 1), date(2026, 10, 31), "2026-10", 31 * 24 + 1),
        ("2026-06", date(2026, 6, 1), date(2026, 6, 30), "2026-06", 30 * 24),
        ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31), "2026-Q1", 90 * 24 - 1),
        ("2026-t2", date(2026, 5, 1), date(2026, 8, 31), "2026-T2", 123 * 24),
        ("2026", date(2026, 1, 1), date(2026, 12, 31), "2026", 365 * 24),
        (
            "2026-03-29..2026-03-29",
            date(2026, 3, 29),
            date(2026, 3, 29),
            "2026-03-29..2026-03-29",
            23,
        ),
        ("2026-04-01..2026-06-30", date(2026, 4, 1), date(2026, 6, 30), "2026-Q2", 91 * 24),
    ],
)
def test_parse_gives_local_days_and_dst_correct_hours(
    text: str, first: date, last: date, name: str, hours: int
) -> None:
    p = parse_period(text)
    assert (p.first, p.last, p.name, p.hours) == (first, last, name, hours)


def test_bounds_are_stockholm_midnights_in_utc() -> None:
    winter = parse_period("2026-01")
    assert _utc(winter.start_ms) == datetime(2025, 12, 31, 23, tzinfo=UTC)
    summer = parse_period("2026-07")
    assert _utc(summer.start_ms) == datetime(2026, 6, 30, 22, tzinfo=UTC)
    assert _utc(summer.end_ms) == datetime(2026, 7, 31, 22, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "previous"),
    [
        ("2026-01", "2025-12"),
        ("2026-Q1", "2025-Q4"),
        ("2026-T1", "2025-T3"),
        ("2026", "2025"),
        ("2026-03-10..2026-03-16", "2026-03-03..2026-03-09"),
    ],
)
def test_previous_period(text: str, previous: str) -> None:
    assert parse_period(text).previous() == parse_period(previous)


@pytest.mark.parametrize(
    "text",
    [
        "2026-13",
        "2026-Q5",
        "march",
        "2026-03-31..2026-03-01",
        "x..y",
        "9999",
        "1999",
        "2001-01-01..2199-01-01",
    ],
)
def test_bad_periods_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"period|month|date|before|years|days"):
        parse_period(text)


def test_a_range_that_is_a_whole_month_is_named_as_one() -> None:
    assert between("2026-02-01", "2026-02-28").name == "2026-02"
    assert Period(date(2026, 2, 1), date(2026, 2, 27), "x").previous().days == 27


def test_hour_starts_cover_the_period() -> None:
    p = parse_period("2026-10-25..2026-10-25")
    hours = hour_starts(p.start_ms, p.end_ms)
    assert len(hours) == 25


def test_periods_and_figures_are_pure() -> None:
    assert (
        io_imported_by("hub.followup.periods", "hub.followup.hours", "hub.followup.figures") == []
    )
