"""GPIO drivers on gpiozero's mock pin factory (TOOLCHAIN.md: gpiozero mock DistanceSensor)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from edge.drivers.gpio import GpioRelay, Tilt
from edge.drivers.ultrasonic import Ultrasonic, fill_level

NOW = datetime(2026, 12, 15, 21, 0, tzinfo=UTC)


@pytest.fixture
def factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = None


def test_relay_reads_the_lamp_state_and_switches_for_a_lamp_test(factory: Any) -> None:
    relay = GpioRelay(
        asset="lamp-1",
        sensor="relay",
        interval_s=60,
        input_pin=17,
        output_pin=27,
        active_high=True,
    )
    relay.open()
    feedback = factory.pin(17)
    feedback.drive_low()
    assert relay.read(NOW).values == {"powerState": "off"}
    feedback.drive_high()
    assert relay.read(NOW).values == {"powerState": "on"}
    relay.switch(True)
    assert factory.pin(27).state is True
    relay.switch(None)
    assert factory.pin(27).state is False
    relay.close()


def test_relay_without_output_refuses_a_lamp_test(factory: Any) -> None:
    relay = GpioRelay(
        asset="lamp-1",
        sensor="relay",
        interval_s=60,
        input_pin=17,
        output_pin=None,
        active_high=True,
    )
    relay.open()
    with pytest.raises(ValueError, match="no relay output"):
        relay.switch(True)
    relay.close()


def test_tilt_switch_closed_to_ground_means_tilted(factory: Any) -> None:
    tilt = Tilt(asset="bin-1", sensor="tilt", interval_s=5, pin=25, closed_is_tilted=True)
    tilt.open()
    pin = factory.pin(25)
    pin.drive_high()  # open switch, pulled up
    assert tilt.read(NOW).values == {"tilted": False}
    pin.drive_low()  # ball closed the contact
    time.sleep(0.06)  # past the 50 ms debounce
    assert tilt.read(NOW).values == {"tilted": True}
    tilt.close()


@pytest.mark.parametrize(("distance", "fill"), [(1.1, 0.0), (0.15, 1.0), (0.625, 0.5), (2.0, 0.0)])
def test_fill_level_from_bin_geometry(distance: float, fill: float) -> None:
    assert fill_level(distance, 1.1, 0.15) == pytest.approx(fill)


def test_ultrasonic_gives_distance_and_fill_level(factory: Any) -> None:
    from gpiozero.pins.mock import MockTriggerPin

    echo = factory.pin(24)
    # echo for 0.5 m: t = 2 d / 343.26 m/s (TOOLCHAIN.md: the mock has a +2-3 cm bias)
    factory.pin(23, pin_class=MockTriggerPin, echo_pin=echo, echo_time=2 * 0.5 / 343.26)
    sensor = Ultrasonic(
        asset="bin-1",
        sensor="level",
        interval_s=60,
        trigger_pin=23,
        echo_pin=24,
        max_distance_m=1.0,
        depth_empty_m=0.9,
        depth_full_m=0.1,
        queue_len=5,
    )
    sensor.open()
    deadline = time.monotonic() + 5
    sample = sensor.read(NOW)
    while time.monotonic() < deadline and not 0.45 < float(sample.values["distance"]) < 0.56:
        time.sleep(0.1)
        sample = sensor.read(NOW)
    sensor.close()
    assert 0.45 < float(sample.values["distance"]) < 0.56
    assert float(sample.values["fillingLevel"]) == pytest.approx(0.5, abs=0.07)
    assert sample.quality == "good"
