"""Day/night: nightfall and a cloud are not faults; at night the dark alarm is off and a
cover is judged against the night's own baseline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from edge.vision import health_faults as faults
from edge.vision.health import CameraHealthMonitor
from edge.vision.health_config import CameraHealthConfig, DayNightConfig, Duration
from edge.vision.sources import SimulatedSource
from tests.vision.test_health_faults import SCENES, load

DAY = datetime(2026, 12, 21, 10, 30, tzinfo=UTC)  # Solna, sun up
NIGHT = datetime(2026, 12, 21, 19, 0, tzinfo=UTC)  # Solna, sun far below the horizon


def config() -> CameraHealthConfig:
    return CameraHealthConfig(
        camera="cam-1",
        baseline=Duration(frames=30, seconds=3.0),
        set_after=Duration(frames=5, seconds=2.0),
        daynight=DayNightConfig(mode="sun", latitude=59.36, longitude=18.0),
    )


def feed(
    monitor: CameraHealthMonitor, source: SimulatedSource, start: datetime, n: int
) -> list[tuple[str, bool]]:
    out = []
    for i in range(n):
        f = source.read()
        _, events = monitor.observe(f.image, now=start + timedelta(seconds=i / 10), meta=f.meta)
        out += [(e.type, e.active) for e in events]
    return out


def test_night_is_not_a_fault_and_a_night_cover_still_is() -> None:
    scene = load(SCENES[1])
    monitor = CameraHealthMonitor(config=config())
    source = SimulatedSource(scene, seed=4)
    assert feed(monitor, source, DAY, 60) == []
    assert monitor.baseline_ready("day")
    source.fault = lambda im: faults.darken(im, gain=0.25)  # lights of the street at night
    assert feed(monitor, source, NIGHT, 100) == []
    assert monitor.baseline_ready("night")
    # Much darker still (a lamp out): the night profile has the dark alarm off.
    source.fault = lambda im: faults.darken(im, gain=0.03)
    assert feed(monitor, source, NIGHT + timedelta(seconds=10), 100) == []
    # Covered at night, against the night baseline.
    source.fault = lambda im: faults.cover(faults.darken(im, gain=0.25), colour=(25, 25, 25))
    events = feed(monitor, source, NIGHT + timedelta(seconds=20), 100)
    assert events == [("cameraCovered", True)]


def test_a_cloud_dimming_the_day_is_not_a_fault() -> None:
    scene = load(SCENES[0])
    monitor = CameraHealthMonitor(config=config())
    source = SimulatedSource(scene, seed=5)
    assert feed(monitor, source, DAY, 60) == []
    events = []
    for step in range(10):
        gain = 1.0 - 0.05 * (step + 1)  # down to half the light over 40 s
        source.fault = lambda im, g=gain: np.asarray(faults.darken(im, gain=g))
        events += feed(monitor, source, DAY + timedelta(seconds=10 + 4 * step), 40)
    assert events == []
