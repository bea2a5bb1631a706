"""Report periods in Europe/Stockholm calendar days, as UTC instants. Pure.

A period is a half-open range of local calendar days; its UTC bounds come from local
midnights, so a month holding the spring DST change has one hour fewer than its days
times 24 (and the autumn month one more).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

STOCKHOLM: Final = ZoneInfo("Europe/Stockholm")
HOUR_MS: Final = 3_600_000
# Asked-for periods lie in these years (no device predates 2000); a Period itself may reach
# back a century so that the period before any of them is still one.
FIRST_YEAR: Final = 2000
LAST_YEAR: Final = 2200
MAX_DAYS: Final = 10 * 366

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)
_TERTIAL = re.compile(r"^(\d{4})-T([1-3])$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")


def _add_months(d: date, months: int) -> date:
    k = d.year * 12 + d.month - 1 + months
    return date(k // 12, k % 12 + 1, 1)


def _local_midnight_ms(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=STOCKHOLM).timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Period:
    """Local calendar days ``first`` up to and including ``last``, with a name."""

    first: date
    last: date
    name: str

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"period ends ({self.last}) before it starts ({self.first})")
        if self.first.year < FIRST_YEAR - 100 or self.last.year > LAST_YEAR:
            raise ValueError(f"period {self.first}..{self.last}: years {FIRST_YEAR}..{LAST_YEAR}")

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start_ms(self) -> int:
        """UTC ms of local midnight opening ``first``."""
        return _local_midnight_ms(self.first)

    @property
    def end_ms(self) -> int:
        """UTC ms of local midnight after ``last`` (exclusive)."""
        return _local_midnight_ms(self.last + timedelta(days=1))

    @property
    def hours(self) -> int:
        """Wall hours in the period (DST-correct: 743 or 745 in the change months)."""
        return (self.end_ms - self.start_ms) // HOUR_MS

    def previous(self) -> Period:
        """The period before: the previous month/quarter/tertial/year for those, else the
        same number of days just before."""
        months = _calendar_months(self)
        if months:
            first = _add_months(self.first, -months)
            return Period(first, self.first - timedelta(days=1), _name(first, months))
        first = self.first - timedelta(days=self.days)
        return Period(
            first, self.first - timedelta(days=1), f"{first}..{self.first - timedelta(days=1)}"
        )


def _calendar_months(p: Period) -> int:
    """1, 3, 4 or 12 when ``p`` is a whole month, quarter, tertial or year; else 0."""
    if p.first.day != 1:
        return 0
    for months in (1, 3, 4, 12):
        if months > 1 and (p.first.month - 1) % months:
            continue
        if _add_months(p.first, months) - timedelta(days=1) == p.last:
            return months
    return 0


def _name(first: date, months: int) -> str:
    if months == 1:
        return f"{first.year}-{first.month:02d}"
    if months == 3:
        return f"{first.year}-Q{(first.month - 1) // 3 + 1}"
    if months == 4:
        return f"{first.year}-T{(first.month - 1) // 4 + 1}"
    return f"{first.year}"


def parse_period(text: str) -> Period:
    """``2026-03`` (month), ``2026-Q1``, ``2026-T2`` (tertial), ``2026`` (year) or
    ``2026-03-01..2026-03-31`` (days, both included). ValueError names what is wrong."""
    s = text.strip()
    year = re.match(r"^(\d{4})(-|$)", s)
    if year and not FIRST_YEAR <= int(year[1]) <= LAST_YEAR and ".." not in s:
        raise ValueError(f"period {text!r}: years {FIRST_YEAR}..{LAST_YEAR}")
    if m := _MONTH.match(s):
        months, first = 1, date(int(m[1]), int(m[2]), 1) if 1 <= int(m[2]) <= 12 else None
    elif m := _QUARTER.match(s):
        months, first = 3, date(int(m[1]), 3 * int(m[2]) - 2, 1)
    elif m := _TERTIAL.match(s):
        months, first = 4, date(int(m[1]), 4 * int(m[2]) - 3, 1)
    elif m := _YEAR.match(s):
        months, first = 12, date(int(m[1]), 1, 1)
    elif ".." in s:
        a, b = s.split("..", 1)
        return between(a, b)
    else:
        raise ValueError(f"not a period: {text!r} (2026-03, 2026-Q1, 2026-T1, 2026 or A..B)")
    if first is None:
        raise ValueError(f"not a month: {text!r}")
    return Period(first, _add_months(first, months) - timedelta(days=1), _name(first, months))


def between(first: str, last: str) -> Period:
    """Days ``first`` to ``last`` (ISO dates, both included); a whole month, quarter,
    tertial or year gets that name. ValueError on a bad date or a reversed range."""
    try:
        a, b = date.fromisoformat(first.strip()), date.fromisoformat(last.strip())
    except ValueError as exc:
        raise ValueError(f"not a date range: {first!r}..{last!r}") from exc
    if a.year < FIRST_YEAR or b.year > LAST_YEAR:
        raise ValueError(f"period {a}..{b}: years {FIRST_YEAR}..{LAST_YEAR}")
    if (b - a).days >= MAX_DAYS:
        raise ValueError(f"period {a}..{b}: at most {MAX_DAYS} days")
    p = Period(a, b, f"{a}..{b}")
    months = _calendar_months(p)
    return Period(a, b, _name(a, months)) if months else p


def hour_starts(start_ms: int, end_ms: int) -> range:
    """UTC hour starts covering ``[start_ms, end_ms)``, both on whole hours."""
    return range(start_ms - start_ms % HOUR_MS, end_ms, HOUR_MS)


def utc(t_ms: int) -> datetime:
    return datetime.fromtimestamp(t_ms / 1000, tz=UTC)
