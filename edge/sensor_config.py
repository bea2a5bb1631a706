"""Per-sensor configuration: one pydantic model per driver ``type:``, a discriminated union.

Every sensor shares the sampling policy (interval, window, aggregate, deadband, maximum
silence); each type adds its hardware address or its simulation parameters. A real driver
``X`` and its simulated twin ``sim_X`` take the same measurement fields, so a device file
switches between hardware and simulation by changing ``type:`` alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Pin = Annotated[int, Field(ge=0, le=27, description="BCM GPIO number")]
I2cAddress = Annotated[int, Field(ge=0x03, le=0x77)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Sensor(_Frozen):
    """The sampling policy every sensor shares."""

    id: Annotated[str, Field(pattern=NAME)]
    interval_s: float = Field(default=60.0, gt=0, le=86_400)
    window: int = Field(default=1, ge=1, le=100, description="raw reads per published value")
    aggregate: Literal["median", "mean", "last"] = "median"
    deadband: float | None = Field(
        default=None, ge=0, description="publish only when a value moves this much (None: always)"
    )
    max_silence_s: float = Field(
        default=900.0, gt=0, description="publish unchanged values at least this often"
    )


# ---- streetlight ---------------------------------------------------------------------
class SimLampSensor(_Sensor):
    """A simulated lamp: relay state, current and power, switching at civil twilight."""

    type: Literal["sim_lamp"]
    rated_power_kw: float = Field(default=0.06, gt=0)


class GpioRelaySensor(_Sensor):
    """Lamp relay/driver state on a GPIO input; optional relay output for a lamp test."""

    type: Literal["gpio_relay"]
    input_pin: Pin
    output_pin: Pin | None = None
    active_high: bool = True


class SimRelaySensor(_Sensor):
    type: Literal["sim_relay"]


class Ina219Sensor(_Sensor):
    """INA219 current/power monitor on I2C (DC side of the LED driver)."""

    type: Literal["ina219"]
    bus: int = Field(default=1, ge=0)
    address: I2cAddress = 0x40
    shunt_ohms: float = Field(default=0.1, gt=0)
    max_current_a: float = Field(default=3.2, gt=0)


class SimIna219Sensor(_Sensor):
    type: Literal["sim_ina219"]
    rated_power_kw: float = Field(default=0.06, gt=0)


class Bh1750Sensor(_Sensor):
    """BH1750 ambient light sensor on I2C, one-time high-resolution mode."""

    type: Literal["bh1750"]
    bus: int = Field(default=1, ge=0)
    address: I2cAddress = 0x23


class SimBh1750Sensor(_Sensor):
    type: Literal["sim_bh1750"]


# ---- waste bin -----------------------------------------------------------------------
class _BinGeometry(_Frozen):
    depth_empty_m: float = Field(default=1.0, gt=0, description="sensor to bottom of empty bin")
    depth_full_m: float = Field(default=0.1, ge=0, description="sensor to rubbish when full")

    @model_validator(mode="after")
    def _ordered(self) -> _BinGeometry:
        if self.depth_full_m >= self.depth_empty_m:
            raise ValueError("depth_full_m must be less than depth_empty_m")
        return self


class UltrasonicSensor(_Sensor, _BinGeometry):
    """HC-SR04 / JSN-SR04T through gpiozero's DistanceSensor."""

    type: Literal["ultrasonic"]
    trigger_pin: Pin
    echo_pin: Pin
    max_distance_m: float = Field(default=2.0, gt=0, le=6)
    window: int = Field(default=5, ge=1, le=100)


class SimUltrasonicSensor(_Sensor, _BinGeometry):
    type: Literal["sim_ultrasonic"]
    fill_per_hour: float = Field(default=0.02, ge=0, le=1)
    start_fill: float = Field(default=0.1, ge=0, le=1)


class _FireWatch(_Frozen):
    fire_c: float = Field(default=70.0, description="temperature that raises a fire event")
    jump_c: float = Field(default=10.0, gt=0, description="rise that raises a jump event")
    jump_window_s: float = Field(default=120.0, gt=0)


class Ds18b20Sensor(_Sensor, _FireWatch):
    """DS18B20 on the kernel's 1-wire sysfs interface (w1-gpio + w1-therm)."""

    type: Literal["ds18b20"]
    device_id: Annotated[str, Field(pattern=r"^28-[0-9a-f]{12}$")] | None = None
    w1_dir: Path = Path("/sys/bus/w1/devices")


class SimDs18b20Sensor(_Sensor, _FireWatch):
    type: Literal["sim_ds18b20"]
    base_c: float = 8.0


class TiltSensor(_Sensor):
    """Tilt switch (e.g. SW-520D ball switch) on a GPIO input; closed means tilted."""

    type: Literal["tilt"]
    pin: Pin
    closed_is_tilted: bool = True


class SimTiltSensor(_Sensor):
    type: Literal["sim_tilt"]


# ---- the Pi itself -------------------------------------------------------------------
class PiHealthSensor(_Sensor):
    type: Literal["pi_health"]
    thermal_zone: Path = Path("/sys/class/thermal/thermal_zone0/temp")
    disk_path: Path | None = Field(default=None, description="defaults to the state folder")


class SimPiHealthSensor(_Sensor):
    type: Literal["sim_pi_health"]


SensorConfig = Annotated[
    SimLampSensor
    | GpioRelaySensor
    | SimRelaySensor
    | Ina219Sensor
    | SimIna219Sensor
    | Bh1750Sensor
    | SimBh1750Sensor
    | UltrasonicSensor
    | SimUltrasonicSensor
    | Ds18b20Sensor
    | SimDs18b20Sensor
    | TiltSensor
    | SimTiltSensor
    | PiHealthSensor
    | SimPiHealthSensor,
    Field(discriminator="type"),
]

# Fields each type publishes: used to size the outbox for seven days of readings.
FIELDS_PER_TYPE: dict[str, int] = {
    "sim_lamp": 3,
    "gpio_relay": 1,
    "sim_relay": 1,
    "ina219": 2,
    "sim_ina219": 2,
    "bh1750": 1,
    "sim_bh1750": 1,
    "ultrasonic": 2,
    "sim_ultrasonic": 2,
    "ds18b20": 1,
    "sim_ds18b20": 1,
    "tilt": 1,
    "sim_tilt": 1,
    "pi_health": 8,
    "sim_pi_health": 8,
}
