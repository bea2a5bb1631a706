"""Which backups to keep: the newest, plus the newest of each of the last N days, ISO weeks
and months (Europe/Stockholm calendar). Pure."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Europe/Stockholm")


@dataclass(frozen=True, slots=True)
class Policy:
    daily: int = 7
    weekly: int = 4
    monthly: int = 12

    def __post_init__(self) -> None:
        if min(self.daily, self.weekly, self.monthly) < 0:
            raise ValueError("retention counts cannot be negative")


def _day(t: datetime) -> Hashable:
    return t.astimezone(LOCAL).date()


def _week(t: datetime) -> Hashable:
    iso = t.astimezone(LOCAL).isocalendar()
    return (iso.year, iso.week)


def _month(t: datetime) -> Hashable:
    local = t.astimezone(LOCAL)
    return (local.year, local.month)


def keep(stamps: Iterable[datetime], policy: Policy) -> set[datetime]:
    """The backups (by their UTC time) that ``policy`` keeps."""
    newest_first = sorted(set(stamps), reverse=True)
    kept: set[datetime] = set(newest_first[:1])
    rules: list[tuple[int, Callable[[datetime], Hashable]]] = [
        (policy.daily, _day),
        (policy.weekly, _week),
        (policy.monthly, _month),
    ]
    for count, bucket in rules:
        seen: set[Hashable] = set()
        for t in newest_first:
            if len(seen) >= count:
                break
            b = bucket(t)
            if b not in seen:
                seen.add(b)
                kept.add(t)
    return kept


def expired(stamps: Iterable[datetime], policy: Policy) -> list[datetime]:
    """The backups ``policy`` lets go, oldest first."""
    all_ = set(stamps)
    return sorted(all_ - keep(all_, policy))
