"""Sensor ``type:`` -> driver factory: an explicit registry of real drivers and twins.

Modules that import hardware libraries do so inside ``open()``, so building the registry
imports none of them; simulated twins share one :class:`SimFaults` per process.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge import sensor_config as sc
from edge.config import AssetConfig, SensorConfig
from edge.drivers.base import Driver, SimFaults

Factory = Callable[[AssetConfig, Any, SimFaults, Path], Driver]


def _common(asset: AssetConfig, sensor: SensorConfig) -> dict[str, Any]:
    return {"asset": asset.id, "sensor": sensor.id, "interval_s": sensor.interval_s}


def _sim_lamp(a: AssetConfig, s: sc.SimLampSensor, f: SimFaults, _d: Path) -> Driver:
    from edge.drivers.sim_streetlight import SimLamp

    return SimLamp(**_common(a, s), lat=a.lat, lon=a.lon, rated_power_kw=s.rated_power_kw, faults=f)


def _gpio_relay(a: AssetConfig, s: sc.GpioRelaySensor, _f: SimFaults, _d: Path) -> Driver:
    from edge.drivers.gpio import GpioRelay

    return GpioRelay(
        **_common(a, s), input_pin=s.input_pin, output_pin=s.output_pin, active_high=s.active_high
    )


def _sim_relay(a: AssetConfig, s: sc.SimRelaySensor, f: SimFaults, _d: Path) -> Driver:
    from edge.drivers.sim_streetlight import SimRelay

    return SimRelay(**_common(a, s), lat=a.lat, lon=a.lon, faults=f)


def _ina219(a: AssetConfig, s: sc.Ina219Sensor, _f: SimFaults, _d: Path) -> Driver:
    from edge.drivers.ina219 import Ina219

    return Ina219(
        **_common(a, s),
        bus=s.bus,
        address=s.address,
        shunt_ohms=s.shunt_ohms,
        max_current_a=s.max_current_a,
    )


def _sim_ina219(a: AssetConfig, s: sc.SimIna219Sensor, f: SimFaults, _d: Path) -> Driver:
    from edge.drivers.sim_streetlight import SimIna219

    return SimIna219(
        **_common(a, s), lat=a.lat, lon=a.lon, faults=f, rated_power_kw=s.rated_power_kw
    )


def _bh1750(a: AssetConfig, s: sc.Bh1750Sensor, _f: SimFaults, _d: Path) -> Driver:
    from edge.drivers.bh1750 import Bh1750

    return Bh1750(**_common(a, s), bus=s.bus, address=s.address)


def _sim_bh1750(a: AssetConfig, s: sc.SimBh1750Sensor, f: SimFaults, _d: Path) -> Driver:
    from edge.drivers.sim_streetlight import SimBh1750

    return SimBh1750(**_common(a, s), lat=a.lat, lon=a.lon, faults=f)


def _ultrasonic(a: AssetConfig, s: sc.UltrasonicSensor, _f: SimFaults, _d: Path) -> Driver:
    from edge.drivers.ultrasonic import Ultrasonic

    return Ultrasonic(
        **_common(a, s),
        trigger_pin=s.trigger_pin,
        echo_pin=s.echo_pin,
        max_distance_m=s.max_distance_m,
        depth_empty_m=s.depth_empty_m,
        depth_full_m=s.depth_full_m,
    )


def _sim_ultrasonic(a: AssetConfig, s: sc.SimUltrasonicSensor, f: SimFaults, _d: Path) -> Driver:
    from edge.drivers.sim_bin import SimUltrasonic, SteadyFill

    return SimUltrasonic(
        **_common(a, s),
        faults=f,
        fill=SteadyFill(start=s.start_fill, per_hour=s.fill_per_hour),
        depth_empty_m=s.depth_empty_m,
        depth_full_m=s.depth_full_m,
    )


def _ds18b20(a: AssetConfig, s: sc.Ds18b20Sensor, _f: SimFaults, _d: Path) -> Driver:
    from edge.drivers.ds18b20 import Ds18b20

    return Ds18b20(**_common(a, s), device_id=s.device_id, w1_dir=s.w1_dir)


def _sim_ds18b20(a: AssetConfig, s: sc.SimDs18b20Sensor, f: SimFaults, _d: Path) -> Driver:
    from edge.drivers.sim_bin import SimDs18b20

    return SimDs18b20(**_common(a, s), faults=f, base_c=s.base_c)


def _tilt(a: AssetConfig, s: sc.TiltSensor, _f: SimFaults, _d: Path) -> Driver:
    from edge.drivers.gpio import Tilt

    return Tilt(**_common(a, s), pin=s.pin, closed_is_tilted=s.closed_is_tilted)


def _sim_tilt(a: AssetConfig, s: sc.SimTiltSensor, f: SimFaults, _d: Path) -> Driver:
    from edge.drivers.sim_bin import SimTilt

    return SimTilt(**_common(a, s), faults=f)


def _pi_health(a: AssetConfig, s: sc.PiHealthSensor, _f: SimFaults, d: Path) -> Driver:
    from edge.drivers.pi_health import PiHealth

    return PiHealth(**_common(a, s), thermal_zone=s.thermal_zone, disk_path=s.disk_path or d)


def _sim_pi_health(a: AssetConfig, s: sc.SimPiHealthSensor, _f: SimFaults, _d: Path) -> Driver:
    from edge.drivers.sim_health import SimPiHealth

    return SimPiHealth(**_common(a, s))


REGISTRY: dict[str, Factory] = {
    "sim_lamp": _sim_lamp,
    "gpio_relay": _gpio_relay,
    "sim_relay": _sim_relay,
    "ina219": _ina219,
    "sim_ina219": _sim_ina219,
    "bh1750": _bh1750,
    "sim_bh1750": _sim_bh1750,
    "ultrasonic": _ultrasonic,
    "sim_ultrasonic": _sim_ultrasonic,
    "ds18b20": _ds18b20,
    "sim_ds18b20": _sim_ds18b20,
    "tilt": _tilt,
    "sim_tilt": _sim_tilt,
    "pi_health": _pi_health,
    "sim_pi_health": _sim_pi_health,
}


def build_drivers(
    assets: list[AssetConfig], faults: SimFaults | None = None, *, state_dir: Path | None = None
) -> list[Driver]:
    """One driver per configured sensor, in configuration order (nothing opened yet)."""
    shared = faults or SimFaults()
    folder = state_dir or Path("/var/lib/trygg")
    return [
        REGISTRY[sensor.type](asset, sensor, shared, folder)
        for asset in assets
        for sensor in asset.sensors
    ]
