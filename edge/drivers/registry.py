"""Sensor ``type:`` -> driver factory. Hardware libraries are imported inside each driver."""

from __future__ import annotations

from collections.abc import Callable

from edge.config import AssetConfig, SensorConfig, SimLampSensor
from edge.drivers.base import Driver, SimFaults
from edge.drivers.sim_lamp import SimLamp

Factory = Callable[[AssetConfig, SensorConfig, SimFaults], Driver]


def _sim_lamp(asset: AssetConfig, sensor: SensorConfig, faults: SimFaults) -> Driver:
    assert isinstance(sensor, SimLampSensor)
    return SimLamp(
        asset=asset.id,
        sensor=sensor.id,
        lat=asset.lat,
        lon=asset.lon,
        interval_s=sensor.interval_s,
        rated_power_kw=sensor.rated_power_kw,
        faults=faults,
    )


REGISTRY: dict[str, Factory] = {
    "sim_lamp": _sim_lamp,
}


def build_drivers(assets: list[AssetConfig], faults: SimFaults | None = None) -> list[Driver]:
    """One driver per configured sensor, in configuration order."""
    shared = faults or SimFaults()
    return [
        REGISTRY[sensor.type](asset, sensor, shared) for asset in assets for sensor in asset.sensors
    ]
