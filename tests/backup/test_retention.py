"""Which backups the retention policy keeps, and the scheduled job's pruning. Unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.backup import jobs, manifest
from hub.backup.errors import BackupError
from hub.backup.retention import Policy, expired, keep


def daily(days: int, end: datetime) -> list[datetime]:
    return [end - timedelta(days=i) for i in range(days)]


def test_keeps_the_newest_of_each_recent_day_week_and_month() -> None:
    end = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)  # a Saturday
    stamps = daily(120, end)
    kept = keep(stamps, Policy(daily=3, weekly=2, monthly=3))
    assert kept == {
        end,  # 5 Dec: day 1, week 49, month Dec
        end - timedelta(days=1),  # 4 Dec: day 2
        end - timedelta(days=2),  # 3 Dec: day 3
        datetime(2026, 11, 29, 1, 0, tzinfo=UTC),  # Sunday: newest of week 48
        datetime(2026, 11, 30, 1, 0, tzinfo=UTC),  # newest of November
        datetime(2026, 10, 31, 1, 0, tzinfo=UTC),  # newest of October
    }
    assert sorted(set(stamps) - kept) == expired(stamps, Policy(daily=3, weekly=2, monthly=3))


def test_days_are_stockholm_calendar_days() -> None:
    # 23:30 UTC on 5 Dec is already 6 Dec in Stockholm: two backups of one local day.
    late = datetime(2026, 12, 5, 23, 30, tzinfo=UTC)
    early = datetime(2026, 12, 6, 0, 30, tzinfo=UTC)
    before = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert keep([late, early, before], Policy(daily=2, weekly=0, monthly=0)) == {early, before}


def test_the_newest_is_kept_even_with_zero_counts() -> None:
    stamps = daily(5, datetime(2026, 12, 5, tzinfo=UTC))
    assert keep(stamps, Policy(daily=0, weekly=0, monthly=0)) == {stamps[0]}
    assert keep([], Policy()) == set()


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Policy(daily=-1)


def test_prune_removes_expired_whole_backups_only(tmp_path: Path) -> None:
    end = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
    for t in daily(10, end):
        folder = tmp_path / jobs.name_of(t)
        folder.mkdir()
        (folder / manifest.NAME).write_text("{}")
    (tmp_path / "20261101T020000Z.partial").mkdir()  # an unfinished one: not a backup
    (tmp_path / "notes").mkdir()
    gone = jobs.prune(tmp_path, Policy(daily=4, weekly=0, monthly=0))
    assert sorted(p.name for p in gone) == sorted(jobs.name_of(t) for t in daily(10, end)[4:])
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(
        [jobs.name_of(t) for t in daily(4, end)] + ["20261101T020000Z.partial", "notes"]
    )


def test_stamps_round_trip_and_reject_other_names() -> None:
    t = datetime(2026, 3, 29, 1, 30, 5, tzinfo=UTC)
    assert jobs.stamp_of(jobs.name_of(t)) == t
    assert jobs.stamp_of("latest") is None


def test_a_failed_run_does_not_stop_the_schedule() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def job() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise BackupError("disk full")

    jobs.repeat(job, 60.0, runs=3, sleep=sleeps.append)
    assert calls == [0, 1, 2]
    assert sleeps == [60.0, 60.0]
