"""Each applied fault on real frames raises its own event, only after the baseline.

A still photo plus per-frame sensor noise (the simulated camera twin) stands in for a live
camera; the fault starts after the baseline has been learned.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from edge.vision import health_faults as faults
from edge.vision.health import CameraHealthMonitor
from edge.vision.health_config import CameraHealthConfig, Duration
from edge.vision.sources import SimulatedSource
from tests.shared_data import vision_dir
from trygg.contract import EventItem

Image = npt.NDArray[np.uint8]
T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
FPS = 10
FAULT_AT = 60  # frames; the baseline below is 30 frames / 3 s
FRAMES = 240

# Outdoor and indoor frames with nobody in them, as the shared README suggests.
SCENES = [
    "coco_val2017_000000000724.jpg",
    "darknet_dog.jpg",
    "intel_car-detection_f0000.png",
    "intel_one-by-one-person-detection_f0000.png",
]
FAULTS: dict[str, tuple[Callable[[Image], Image] | None, str]] = {
    "gaussian-blur": (faults.blur, "cameraBlurred"),
    "covering-patch": (faults.cover, "cameraCovered"),
    "spray-overlay": (faults.spray, "cameraCovered"),
    "darkness": (faults.darken, "cameraDark"),
    "overexposure": (faults.overexpose, "cameraOverexposed"),
    "shift": (faults.shift, "cameraDisplaced"),
    "rotation": (faults.rotate, "cameraDisplaced"),
    "repeated-frame": (None, "cameraFrozen"),
}


def config() -> CameraHealthConfig:
    return CameraHealthConfig(
        camera="cam-1",
        baseline=Duration(frames=30, seconds=3.0),
        set_after=Duration(frames=5, seconds=2.0),
        frozen_after=Duration(frames=20, seconds=3.0),
    )


def load(name: str) -> Image:
    path: Path = vision_dir() / "images" / name
    image = cv2.imread(str(path))
    assert image is not None, path
    return np.asarray(cv2.resize(image, (640, 480), interpolation=cv2.INTER_AREA), dtype=np.uint8)


def run(
    scene: Image, fault: Callable[[Image], Image] | None, *, freeze: bool = False
) -> tuple[CameraHealthMonitor, list[tuple[int, EventItem]]]:
    monitor = CameraHealthMonitor(config=config())
    source = SimulatedSource(scene, fps=FPS, seed=7)
    source.open()
    events: list[tuple[int, EventItem]] = []
    for i in range(FRAMES):
        if i == FAULT_AT:
            source.fault = fault
            source.freeze = freeze
        frame = source.read()
        now = T0 + timedelta(seconds=i / FPS)
        _, new = monitor.observe(frame.image, now=now, meta=frame.meta)
        events.extend((i, e) for e in new)
    return monitor, events


@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_is_detected_after_baseline(scene: str, fault: str) -> None:
    transform, expected = FAULTS[fault]
    monitor, events = run(load(scene), transform, freeze=transform is None)
    assert monitor.baseline_ready()
    assert all(i >= FAULT_AT for i, _ in events), f"event before the fault: {events}"
    raised = {e.type for _, e in events if e.active}
    assert expected in raised, f"{fault} on {scene}: raised {raised}, scores {monitor.scores}"
    # The first event names the fault itself, not a side effect of it.
    assert events[0][1].type == expected
    assert all(e.asset == "cam-1" and e.kind == "camera" for _, e in events)


def test_latched_tamper_stays_until_acknowledged() -> None:
    scene = load(SCENES[0])
    monitor = CameraHealthMonitor(config=config())
    source = SimulatedSource(scene, fps=FPS, seed=1)
    source.open()
    log: list[EventItem] = []
    now = T0
    for i in range(600):
        source.fault = faults.cover if 60 <= i < 200 else None
        frame = source.read()
        now = T0 + timedelta(seconds=i / FPS)
        log.extend(monitor.observe(frame.image, now=now, meta=frame.meta)[1])
    # The patch went away at frame 200 but the covered event is latched.
    assert [(e.type, e.active) for e in log] == [("cameraCovered", True)]
    assert "cameraCovered" in monitor.active
    cleared = monitor.acknowledge("cameraCovered", now=now)
    assert [(e.type, e.active) for e in cleared] == [("cameraCovered", False)]
    assert not monitor.active


def test_clean_scene_raises_nothing_for_a_long_time() -> None:
    monitor, events = run(load(SCENES[1]), None)
    assert events == []
    assert monitor.health_score > 0.8
