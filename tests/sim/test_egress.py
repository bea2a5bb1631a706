"""The arena egress model: a narrow exit queues its crowd to Fruin E/F, wide ones do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sim.egress import Egress, Exit, LeavingCurve
from sim.places import ARENA_EXITS
from sim.world import ArenaEvent, World, arena_egress
from tests.purity import IO_LIBRARIES, io_imported_by
from trygg.fruin import walkway_los

SPECTATORS = 50_000


def _arena(width_m: float, n: int = 4) -> Egress:
    return Egress(SPECTATORS, tuple(Exit(f"x{i}", width_m, 1500.0, 50.0, 1 / n) for i in range(n)))


@pytest.mark.parametrize("width_m", [3.0, 4.0, 5.0])
def test_fifty_thousand_through_narrow_exits_reach_e_or_f(width_m: float) -> None:
    egress = _arena(width_m)
    for i in range(4):
        assert walkway_los(egress.peak_density(i)) in ("E", "F")


@pytest.mark.parametrize("width_m", [12.0, 15.0, 25.0])
def test_wide_exits_stay_at_d_or_better(width_m: float) -> None:
    egress = _arena(width_m)
    for i in range(4):
        assert walkway_los(egress.peak_density(i)) <= "D"


def test_narrower_means_denser_and_slower_to_clear() -> None:
    peaks = [_arena(w).peak_density(0) for w in (3.0, 5.0, 8.0, 12.0)]
    assert peaks == sorted(peaks, reverse=True)
    assert _arena(3.0).cleared_after_s() > _arena(12.0).cleared_after_s()


def test_everyone_who_leaves_passes_the_exit_at_its_rate_at_most() -> None:
    ex = Exit("only", 4.0, 1000.0, 40.0, 1.0)
    egress = Egress(20_000, (ex,))
    # the queue drains no faster than flow x width: clearing takes at least N / capacity
    assert egress.cleared_after_s() - egress.curve.start_s >= 20_000 / ex.capacity_per_s
    assert egress.state(0, -10_000).people == 0.0
    assert egress.state(0, 100_000).people < 0.5


def test_leaving_curve_runs_from_nobody_to_everybody() -> None:
    curve = LeavingCurve()
    shares = [curve.left(t) for t in range(-600, 2000, 50)]
    assert shares[0] == 0.0
    assert shares[-1] == 1.0
    assert shares == sorted(shares)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"width_m": 0.0}, "width"),
        ({"zone_area_m2": -1.0}, "area"),
        ({"share": 1.5}, "share"),
    ],
)
def test_bad_exits_are_refused(kwargs: dict[str, float], match: str) -> None:
    spec = {"width_m": 4.0, "zone_area_m2": 100.0, "zone_length_m": 10.0, "share": 1.0}
    with pytest.raises(ValueError, match=match):
        Exit("bad", **(spec | kwargs))


def test_shares_must_add_up_and_an_arena_has_exits() -> None:
    with pytest.raises(ValueError, match="add up"):
        Egress(10, (Exit("a", 4, 100, 10, 0.5),))
    with pytest.raises(ValueError, match="exit"):
        Egress(10, ())
    with pytest.raises(ValueError, match="start < peak < end"):
        LeavingCurve(0, 0, 10)


def test_the_arenas_station_exit_reaches_f_at_a_sold_out_match() -> None:
    egress = arena_egress(SPECTATORS)
    letters = {z.slug: walkway_los(egress.peak_density(i)) for i, z in enumerate(ARENA_EXITS)}
    assert letters["arena-syd"] == "F"
    assert letters["arena-ost"] <= "D"


def test_the_world_fills_the_station_exit_zone_after_the_whistle() -> None:
    end = datetime(2026, 12, 11, 18, 0, tzinfo=UTC)
    world = World(seed=1, events=(ArenaEvent("m", end - timedelta(hours=2), end, 45_000),))
    (zone,) = [z for z in ARENA_EXITS if z.slug == "arena-syd"]
    before = world.zone_people(zone, end - timedelta(hours=3), key=1) / zone.area_m2
    after = max(
        world.zone_people(zone, end + timedelta(minutes=m), key=1) / zone.area_m2
        for m in range(0, 40, 2)
    )
    assert walkway_los(before) <= "B"
    assert walkway_los(after) == "F"


def test_the_egress_model_and_the_crowd_score_import_no_io() -> None:
    assert io_imported_by("sim.egress") == []
    # the wire contract's pydantic network types load ``socket``; nothing here opens one
    no_network_clients = tuple(m for m in IO_LIBRARIES if m != "socket")
    assert io_imported_by("sim.crowd_score", "sim.drivers.crowd", io=no_network_clients) == []
