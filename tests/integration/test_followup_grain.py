"""Day and month rows (hub/followup/rollup.py, spans.py) on real SQLite and PostgreSQL: a
period reported from hours, then again after its days and months are summed and its hours
pruned, gives the very same figures."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.db import AssetHour, AssetSpan, open_database
from hub.db import Counter as CounterRow
from hub.followup.hours import HOUR_MS, HourRow
from hub.followup.load import build_report
from hub.followup.periods import between, parse_period
from hub.followup.rollup import HOURS_MARK, marks, roll_up_due
from hub.followup.spans import DAY, roll_up
from hub.followup.store import replace_hours
from trygg.clock import to_ms

pytestmark = pytest.mark.integration

FIRST = parse_period("2026-02").start_ms
END = between("2026-04-01", "2026-04-03").end_ms  # local midnight closing 3 April
KINDS = (
    ("streetlight", "lamp", ("litDark", "litDay", "unlitDark", "unknownDark")),
    ("bin", "bin", ("notFull", "full", "unknown")),
    ("camera", "camera", ("healthy", "degraded")),
)


def _history(assets: int, rnd: random.Random) -> list[HourRow]:
    """Hours with values split at random thousandths of a second, some events."""
    out: list[HourRow] = []
    for i in range(assets):
        kind, fld, values = KINDS[i % len(KINDS)]
        a = f"{kind}-{i}"
        for t in range(FIRST, END, HOUR_MS):
            heard = round(rnd.uniform(3000, 3600), 3)
            out.append(HourRow(a, kind, "centrum", t, "reporting", "heard", heard))
            out.append(HourRow(a, kind, "centrum", t, "reporting", "silent", 3600 - heard))
            cut = round(rnd.uniform(0, 3600), 3)
            x, y = rnd.sample(values, 2)
            out.append(HourRow(a, kind, "centrum", t, fld, x, cut, round(cut * 0.019, 3)))
            out.append(HourRow(a, kind, "centrum", t, fld, y, round(3600 - cut, 3)))
            if kind == "bin" and rnd.random() < 0.05:
                out.append(HourRow(a, kind, "centrum", t, "event", "collection", count=1))
    return out


def _reports(sessions: sessionmaker[Session]) -> list[dict[str, Any]]:
    with sessions() as s:
        return [
            build_report(s, p).as_dict()
            for p in (
                parse_period("2026-03"),
                between("2026-03-10", "2026-04-02"),
                parse_period("2026-Q1"),
            )
        ]


def _count(sessions: sessionmaker[Session], table: Any) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def test_figures_from_days_and_months_equal_those_from_hours(sql_url: str) -> None:
    sessions = open_database(sql_url)
    with sessions.begin() as s:
        replace_hours(s, start_ms=FIRST, end_ms=END, rows=_history(9, random.Random(3)))
        s.merge(CounterRow(name=HOURS_MARK, value=END))
    first_reported = _reports(sessions)
    lamp = first_reported[0]["current"]["lighting"]
    assert lamp["lamps"] == 3
    assert 0 < lamp["availability"] < 1
    assert first_reported[0]["current"]["bins"]["collections"] > 0

    now = END + 6 * HOUR_MS
    for _ in range(3):  # each call sums at most 31 days
        with sessions.begin() as s:
            roll_up_due(s, now_ms=now)
    with sessions() as s:
        assert marks(s) == (date(2026, 4, 4), date(2026, 4, 1))
    assert _count(sessions, AssetSpan) > 0
    assert _reports(sessions) == first_reported

    # Months later the hours are pruned; the days and months still give the same figures.
    later = to_ms(datetime(2026, 7, 20, tzinfo=UTC))
    with sessions.begin() as s:
        roll_up_due(s, now_ms=later)
    assert _count(sessions, AssetHour) < 24 * 9 * 4  # at most the last days' hours
    assert _reports(sessions) == first_reported
    sessions.kw["bind"].dispose()


def test_summing_a_day_again_replaces_it_with_the_same_rows(sql_url: str) -> None:
    sessions = open_database(sql_url)
    with sessions.begin() as s:
        replace_hours(s, start_ms=FIRST, end_ms=END, rows=_history(3, random.Random(5)))
    day = date(2026, 3, 29)  # 23 hours: summer time starts
    rows = []
    for _ in range(2):
        with sessions.begin() as s:
            assert roll_up(s, span=DAY, first=day) > 0
        with sessions() as s:
            rows.append(
                sorted(
                    tuple(r)
                    for r in s.execute(
                        select(AssetSpan.asset, AssetSpan.field, AssetSpan.value, AssetSpan.seconds)
                    )
                )
            )
    assert rows[0] == rows[1]
    per_asset = {(a, f): 0.0 for a, f, _, _ in rows[0]}
    for a, f, _, sec in rows[0]:
        per_asset[(a, f)] += sec
    assert list(per_asset.values()) == [pytest.approx(23 * 3600.0)] * len(per_asset)
    sessions.kw["bind"].dispose()


def test_a_month_does_not_start_mid_month(sql_url: str) -> None:
    sessions = open_database(sql_url)
    with sessions.begin() as s, pytest.raises(ValueError, match="first day"):
        roll_up(s, span="month", first=date(2026, 3, 2))
    sessions.kw["bind"].dispose()
