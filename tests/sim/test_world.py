"""The world model: a healthy city keeps its bins below threshold; crowds follow the arena."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.drivers.sim_model import noise, stable_key
from sim.world import ArenaEvent, World

MATCH = ArenaEvent(
    "match",
    datetime(2026, 12, 11, 17, 0, tzinfo=UTC),
    datetime(2026, 12, 11, 19, 0, tzinfo=UTC),
    50_000,
)


def _max_fill(world: World, place: str, busy: float, day: datetime) -> float:
    t, top = day, 0.0
    while t < day + timedelta(days=1):
        top = max(
            top,
            world.fill(place=place, busy=busy, volume_m3=0.2, key=stable_key(1, "b"), when=t),
        )
        t += timedelta(minutes=20)
    return top


def test_collection_rounds_keep_every_bin_below_its_threshold_even_on_match_day() -> None:
    world = World(seed=1, events=(MATCH,))
    day = datetime(2026, 12, 11, 0, 0, tzinfo=UTC)
    for place, busy in (("arenastaden", 2.0), ("solna-centrum", 1.6), ("solnavagen", 1.0)):
        assert 0.05 < _max_fill(world, place, busy, day) < 0.85, place


def test_bins_fill_during_the_day_and_empty_at_the_round() -> None:
    world = World(seed=1)
    key = stable_key(1, "bin")
    before = world.fill(
        place="rasunda",
        busy=1.2,
        volume_m3=0.2,
        key=key,
        when=datetime(2026, 12, 9, 13, 50, tzinfo=UTC),
    )
    after = world.fill(
        place="rasunda",
        busy=1.2,
        volume_m3=0.2,
        key=key,
        when=datetime(2026, 12, 9, 14, 10, tzinfo=UTC),  # 15:00 local round at 14:00 UTC
    )
    assert before > 0.1
    assert after < 0.02


def test_crowd_builds_before_the_match_and_surges_out_after_it() -> None:
    world = World(seed=2, events=(MATCH,))
    key = stable_key(2, "crowd")

    def people(h: int, m: int = 0) -> int:
        return world.people("arenastaden", 6000, datetime(2026, 12, 11, h, m, tzinfo=UTC), key)

    assert people(12) < people(16, 30)
    assert people(18) < people(19, 5)
    assert people(19, 5) > 2000
    assert people(21) < people(19, 5) / 5


def test_noise_is_a_pure_function_of_key_and_time() -> None:
    assert noise(42, 1000, 3) == noise(42, 1000, 3)
    assert noise(42, 1000, 3) != noise(42, 1001, 3)
    values = [noise(7, t) for t in range(2000)]
    assert 0.45 < sum(values) / len(values) < 0.55
    assert all(0.0 <= v < 1.0 for v in values)


def _fill_hour_by_hour(
    world: World, place: str, busy: float, when: datetime, emptied_at: datetime | None
) -> float:
    """The fill level integrated one stretch at a time (the definition World.fill caches)."""
    start = when.replace(minute=0, second=0, microsecond=0)
    for _ in range(48):
        if world.collected(place, start):
            break
        start -= timedelta(hours=1)
    if emptied_at is not None and emptied_at > start:
        start = emptied_at
    total, cursor = 0.0, start
    while cursor < when:
        nxt = min(cursor.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1), when)
        total += world.litter_rate(place, busy, cursor) * (nxt - cursor).total_seconds() / 3600
        cursor = nxt
    habit = 0.7 + 0.6 * noise(7, 0, 1)
    return min(1.0, total * habit * 0.2 / 0.12)


@settings(max_examples=300, deadline=None)
@given(
    place=st.sampled_from(["arenastaden", "solna-centrum", "rasunda", "solnavagen"]),
    busy=st.floats(0.1, 3.0),
    minutes=st.integers(0, 3 * 24 * 60),
    seconds=st.integers(0, 59),
    emptied_ago_min=st.none() | st.integers(0, 30 * 60),
)
def test_fill_equals_the_hour_by_hour_integral(
    place: str, busy: float, minutes: int, seconds: int, emptied_ago_min: int | None
) -> None:
    world = World(seed=3, events=(MATCH,))
    when = datetime(2026, 12, 10, 0, 0, tzinfo=UTC) + timedelta(minutes=minutes, seconds=seconds)
    emptied = None if emptied_ago_min is None else when - timedelta(minutes=emptied_ago_min)
    got = world.fill(place=place, busy=busy, volume_m3=0.12, key=7, when=when, emptied_at=emptied)
    assert got == pytest.approx(_fill_hour_by_hour(world, place, busy, when, emptied), rel=1e-9)
