"""Crowd zones in the simulated city: the arena's exits, their attributes, and surges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sim.city import build_city
from sim.drivers.crowd import SURGE_RISE, SimCrowd, surge_density
from sim.fleet import CityFaults
from sim.places import ARENA_EXITS, exit_by_slug
from sim.scenario import ScenarioError, load
from sim.world import World
from trygg.contract import FIELDS, AssetKind
from trygg.fruin import QUEUE_BOUNDS, WALKWAY_BOUNDS, queue_los, walkway_los

NOW = datetime(2026, 12, 11, 12, 0, tzinfo=UTC)
DEFAULT = Path(__file__).resolve().parents[2] / "scenarios" / "default.yaml"


def test_the_demo_city_watches_every_arena_exit_with_capacity_and_scale() -> None:
    city = build_city(40, seed=7)
    zones = [a for _d, a in city.assets() if a.kind == AssetKind.CROWD]
    exits = {a.properties.get("exitZone") for a in zones} - {None}
    assert exits == {z.slug for z in ARENA_EXITS}
    for a in zones:
        assert float(a.properties["zoneArea"]) > 0
        assert int(a.properties["capacity"]) > 0
        assert a.properties["scale"] in ("walkway", "queue")
        assert a.properties["zoneName"]
    assert {a.properties["scale"] for a in zones} == {"walkway", "queue"}


@pytest.mark.parametrize(
    ("scale", "bounds"), [("walkway", WALKWAY_BOUNDS), ("queue", QUEUE_BOUNDS)]
)
def test_a_surge_climbs_past_f_on_the_zones_scale_and_stays(
    scale: str, bounds: tuple[float, ...]
) -> None:
    base = 0.3
    start = surge_density(base=base, scale=scale, since=timedelta(0))  # type: ignore[arg-type]
    mid = surge_density(base=base, scale=scale, since=SURGE_RISE / 2)  # type: ignore[arg-type]
    top = surge_density(base=base, scale=scale, since=SURGE_RISE)  # type: ignore[arg-type]
    later = surge_density(base=base, scale=scale, since=SURGE_RISE * 5)  # type: ignore[arg-type]
    assert start == base < mid < top == later
    assert top > bounds[-1]


def test_the_simulated_zone_surges_while_the_fault_is_on_and_calms_after() -> None:
    zone = exit_by_slug("arena-syd")
    faults = CityFaults()
    crowd = SimCrowd(
        asset="pole-1-crowd0",
        place="arenastaden",
        area_m2=zone.area_m2,
        world=World(seed=3),
        zone=zone,
        capacity=zone.capacity,
        scale=zone.scale,
        faults=faults,
    )
    calm = crowd.read(NOW).values
    assert calm["levelOfService"] in ("A", "B")
    assert set(calm) <= set(FIELDS)
    faults.set("pole-1-crowd0", "surge", active=True)
    seen = [crowd.read(NOW + timedelta(minutes=m)).values for m in range(8)]
    assert seen[0]["levelOfService"] == calm["levelOfService"]
    assert [v["levelOfService"] for v in seen[4:]] == ["F"] * 4
    assert all(v["congested"] and v["occlusionLimited"] for v in seen[4:])
    assert float(seen[-1]["occupancy"]) > 1.0  # past F is past the planned capacity
    faults.set("pole-1-crowd0", "surge", active=False)
    after = crowd.read(NOW + timedelta(minutes=9)).values
    assert after["levelOfService"] == calm["levelOfService"]


def test_a_queue_zone_is_judged_by_the_queue_scale() -> None:
    zone = exit_by_slug("arena-vast")
    faults = CityFaults()
    crowd = SimCrowd(
        asset="z",
        place="arenastaden",
        area_m2=zone.area_m2,
        world=World(seed=3),
        zone=zone,
        scale="queue",
        faults=faults,
    )
    faults.set("z", "surge", active=True)
    crowd.read(NOW)
    v = crowd.read(NOW + SURGE_RISE).values
    density = float(v["peopleDensity"])
    assert density > QUEUE_BOUNDS[-1]
    assert v["levelOfServiceQueue"] == queue_los(density) == "F"
    assert v["levelOfService"] == walkway_los(density)
    assert "occupancy" not in v  # no capacity given, no ratio


def test_the_default_scenario_surges_an_arena_exit_zone() -> None:
    sc = load(DEFAULT)
    (surge,) = [i for i in sc.injections if i.fault == "crowd_surge"]
    assets = {a.id: a for _d, a in sc.city.assets()}
    zone = assets[surge.assets[0]]
    assert zone.kind == AssetKind.CROWD
    assert zone.place == "arenastaden"
    assert surge.clear_at is not None
    (event,) = sc.world.events
    assert event.window()[0] <= surge.at < event.end
    assert sc.end > event.end + timedelta(minutes=20)  # the egress is part of the demo


def test_a_surge_needs_a_crowd_zone(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        'name: t\nstart: "2026-12-11T11:00:00Z"\nduration: 2h\ncity: {devices: 40}\n'
        "faults:\n  - {at: 1h, fault: crowd_surge, target: {asset: pole-00000-lamp0}}\n"
    )
    with pytest.raises(ScenarioError, match=r"s.yaml:6: .*no zone 'pole-00000-lamp0'"):
        load(path)
