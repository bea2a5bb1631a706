"""Simulated twins: same fields as their real drivers, and every documented fault works."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edge.config import AssetConfig
from edge.drivers.base import FAULTS, DriverError, SimFaults
from edge.drivers.registry import build_drivers
from edge.sensor_config import FIELDS_PER_TYPE
from trygg.contract import FIELDS, AssetKind

NIGHT = datetime(2026, 12, 15, 21, 0, tzinfo=UTC)
NOON = datetime(2026, 6, 21, 11, 0, tzinfo=UTC)


def _assets() -> list[AssetConfig]:
    return [
        AssetConfig.model_validate(
            {
                "id": "lamp-1",
                "kind": "streetlight",
                "lat": 59.36,
                "lon": 18.0,
                "sensors": [
                    {"type": "sim_relay", "id": "relay"},
                    {"type": "sim_ina219", "id": "power"},
                    {"type": "sim_bh1750", "id": "lux"},
                    {"type": "sim_lamp", "id": "lamp"},
                ],
            }
        ),
        AssetConfig.model_validate(
            {
                "id": "bin-1",
                "kind": "bin",
                "lat": 59.36,
                "lon": 18.0,
                "sensors": [
                    {"type": "sim_ultrasonic", "id": "level", "fill_per_hour": 0.1},
                    {"type": "sim_ds18b20", "id": "temp"},
                    {"type": "sim_tilt", "id": "tilt"},
                ],
            }
        ),
        AssetConfig.model_validate(
            {
                "id": "pole-1",
                "kind": "device",
                "lat": 59.36,
                "lon": 18.0,
                "sensors": [{"type": "sim_pi_health", "id": "health"}],
            }
        ),
    ]


def _read(faults: SimFaults, when: datetime) -> dict[str, object]:
    values: dict[str, object] = {}
    for d in build_drivers(_assets(), faults):
        d.open()
        for k, v in d.read(when).values.items():
            values[f"{d.asset}/{d.sensor}/{k}"] = v
    return values


def test_twins_publish_contract_fields_with_the_documented_counts() -> None:
    drivers = build_drivers(_assets(), SimFaults())
    for d in drivers:
        sample = d.read(NIGHT)
        assert set(sample.values) <= set(FIELDS), sample.values
        assert d.blocking is False  # type: ignore[attr-defined]
    health = next(d for d in drivers if d.kind == AssetKind.DEVICE)
    # +2 (outboxDepth, droppedReadings) come from the agent
    assert len(health.read(NIGHT).values) + 2 == FIELDS_PER_TYPE["sim_pi_health"]


def test_healthy_night_and_day() -> None:
    night, day = _read(SimFaults(), NIGHT), _read(SimFaults(), NOON)
    assert night["lamp-1/relay/powerState"] == "on"
    assert day["lamp-1/relay/powerState"] == "off"
    assert float(night["lamp-1/power/activePower"]) == pytest.approx(0.06, rel=0.02)  # type: ignore[arg-type]
    assert float(day["lamp-1/lux/illuminance"]) > 10_000 > float(night["lamp-1/lux/illuminance"])  # type: ignore[arg-type]
    assert night["bin-1/tilt/tilted"] is False
    assert 0 <= float(night["bin-1/level/fillingLevel"]) < 0.5  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fault", "when", "key", "check"),
    [
        ("out", NIGHT, "lamp-1/relay/powerState", lambda v: v == "off"),
        ("cabinet_outage", NIGHT, "lamp-1/power/activePower", lambda v: v == 0.0),
        ("dayburn", NOON, "lamp-1/relay/powerState", lambda v: v == "on"),
        ("degraded", NIGHT, "lamp-1/power/activePower", lambda v: 0.03 < v < 0.04),
        ("full", NIGHT, "bin-1/level/fillingLevel", lambda v: v > 0.9),
        ("dropped", NIGHT, "bin-1/tilt/tilted", lambda v: v is True),
        ("fire", NIGHT, "bin-1/temp/temperature", lambda v: v > 35),
    ],
)
def test_each_fault_changes_what_the_twins_report(
    fault: str, when: datetime, key: str, check: object
) -> None:
    faults = SimFaults()
    faults.set("lamp-1" if key.startswith("lamp") else "bin-1", fault, active=True)
    value = _read(faults, when)[key]
    assert callable(check)
    assert check(value), (fault, value)


def test_flicker_toggles_and_sensor_dead_raises() -> None:
    faults = SimFaults()
    faults.set("lamp-1", "flicker", active=True)
    faults.set("bin-1", "sensor_dead", active=True)
    drivers = {f"{d.asset}/{d.sensor}": d for d in build_drivers(_assets(), faults)}
    states = {
        drivers["lamp-1/lamp"].read(NIGHT + timedelta(seconds=i)).values["powerState"]
        for i in range(4)
    }
    assert states == {"on", "off"}
    with pytest.raises(DriverError):
        drivers["bin-1/level"].read(NIGHT)


def test_fire_climbs_and_fill_rises_over_time() -> None:
    faults = SimFaults()
    drivers = {f"{d.asset}/{d.sensor}": d for d in build_drivers(_assets(), faults)}
    level = drivers["bin-1/level"]
    first = float(level.read(NIGHT).values["fillingLevel"])
    later = float(level.read(NIGHT + timedelta(hours=2)).values["fillingLevel"])
    assert later == pytest.approx(first + 0.2, abs=0.03)
    faults.set("bin-1", "fire", active=True)
    temp = drivers["bin-1/temp"]
    t0 = float(temp.read(NIGHT).values["temperature"])
    t5 = float(temp.read(NIGHT + timedelta(minutes=5)).values["temperature"])
    assert t5 - t0 == pytest.approx(50, abs=1)


def test_lamp_test_forces_every_twin_of_the_asset() -> None:
    faults = SimFaults()
    drivers = {f"{d.asset}/{d.sensor}": d for d in build_drivers(_assets(), faults)}
    drivers["lamp-1/relay"].switch(True)  # type: ignore[attr-defined]
    assert drivers["lamp-1/power"].read(NOON).values["activePower"] != 0.0
    drivers["lamp-1/relay"].switch(None)  # type: ignore[attr-defined]
    assert drivers["lamp-1/power"].read(NOON).values["activePower"] == 0.0


def test_unknown_fault_names_are_refused() -> None:
    assert {
        "out",
        "flicker",
        "dayburn",
        "degraded",
        "cabinet_outage",
        "full",
        "fire",
        "dropped",
        "sensor_dead",
        "offline",
    } == FAULTS
    with pytest.raises(ValueError, match="unknown fault"):
        SimFaults().set("lamp-1", "exploded", active=True)


def test_a_flickering_lamps_twins_agree_at_each_instant_and_toggle_between() -> None:
    faults = SimFaults()
    faults.set("lamp-1", "flicker", active=True)
    drivers = {f"{d.asset}/{d.sensor}": d for d in build_drivers(_assets(), faults)}
    seen = []
    for i in range(4):
        when = NIGHT + timedelta(seconds=60 * i)
        relay = drivers["lamp-1/relay"].read(when).values["powerState"]
        lamp = drivers["lamp-1/lamp"].read(when).values["powerState"]
        power = drivers["lamp-1/power"].read(when).values["activePower"]
        assert relay == lamp
        assert (power != 0.0) == (relay == "on")
        seen.append(relay)
    assert seen == ["on", "off", "on", "off"]


def test_clearing_full_means_a_crew_emptied_the_bin() -> None:
    faults = SimFaults()
    level = next(d for d in build_drivers(_assets(), faults) if d.sensor == "level")
    faults.set("bin-1", "full", active=True)
    assert float(level.read(NIGHT).values["fillingLevel"]) > 0.9
    faults.set("bin-1", "full", active=False)
    emptied = float(level.read(NIGHT + timedelta(minutes=1)).values["fillingLevel"])
    assert emptied < 0.05
