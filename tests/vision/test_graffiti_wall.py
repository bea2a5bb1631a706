"""Graffiti on a real wall: a painted tag is found with the right area; passers-by are not.

The wall is the white wall of ``intel_one-by-one-person-detection.mp4``, in front of
which people walk up to a table one at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from edge.vision.graffiti import GraffitiDetector
from edge.vision.health import CameraHealthMonitor
from edge.vision.health_config import (
    CameraHealthConfig,
    Duration,
    GraffitiConfig,
    ScheduleConfig,
    WallConfig,
)
from tests.shared_data import vision_dir
from trygg.contract import EventItem, Reading

Image = npt.NDArray[np.uint8]
T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
X0, X1, Y0, Y1 = 0.15, 0.48, 0.03, 0.50  # the bare wall left of the table
WALL_W_M, WALL_H_M = 3.0, 2.0
PAINT_FROM = 300  # frames; the wall reference is learned well before
PAINT_BGR = np.array((40, 30, 200), dtype=np.float32)

WALL = WallConfig(
    name="wall-a",
    corners=((X0, Y0), (X1, Y0), (X1, Y1), (X0, Y1)),
    width_m=WALL_W_M,
    height_m=WALL_H_M,
)
GRAFFITI = GraffitiConfig(
    walls=(WALL,),
    reference=Duration(frames=10, seconds=5.0),
    persist=Duration(frames=10, seconds=20.0),
    clear=Duration(frames=5, seconds=10.0),
)


def frames() -> Iterator[tuple[datetime, Image]]:
    cap = cv2.VideoCapture(str(vision_dir() / "video" / "intel_one-by-one-person-detection.mp4"))
    try:
        while True:
            ok, image = cap.read()
            if not ok:
                return
            now = T0 + timedelta(milliseconds=float(cap.get(cv2.CAP_PROP_POS_MSEC)))
            yield now, np.asarray(image, dtype=np.uint8)
    finally:
        cap.release()


def tag_alpha(shape: tuple[int, ...]) -> npt.NDArray[np.float32]:
    """Spray-like tag: thick strokes with soft edges, in the wall's upper half."""
    h, w = shape[:2]
    mask = np.zeros((h, w), np.uint8)
    cv2.putText(
        mask,
        "TAG",
        (int(w * 0.2), int(h * 0.35)),
        cv2.FONT_HERSHEY_SIMPLEX,
        2.2,
        255,
        10,
        cv2.LINE_AA,
    )
    return np.asarray(cv2.GaussianBlur(mask, (0, 0), 1.0), dtype=np.float32) / 255.0


def painted_area_m2(alpha: npt.NDArray[np.float32]) -> float:
    h, w = alpha.shape
    m2_per_px = (WALL_W_M * WALL_H_M) / ((X1 - X0) * w * (Y1 - Y0) * h)
    return float(np.count_nonzero(alpha > 0.5) * m2_per_px)


def monitor() -> CameraHealthMonitor:
    return CameraHealthMonitor(
        config=CameraHealthConfig(
            camera="cam-1",
            baseline=Duration(frames=30, seconds=3.0),
            schedule=ScheduleConfig(graffiti_every=5),
            graffiti=GRAFFITI,
        )
    )


def test_painted_tag_is_detected_with_its_area() -> None:
    m = monitor()
    events: list[EventItem] = []
    readings: list[Reading] = []
    alpha: npt.NDArray[np.float32] | None = None
    for i, (now, clean) in enumerate(frames()):
        if alpha is None:
            alpha = tag_alpha(clean.shape)
        a = alpha[..., None]
        image = (clean * (1 - a) + PAINT_BGR * a).astype(np.uint8) if i >= PAINT_FROM else clean
        r, e = m.observe(image, now=now)
        events.extend(e)
        readings.extend(r)
    assert alpha is not None
    painted = painted_area_m2(alpha)
    graffiti = [e for e in events if e.type == "graffiti"]
    assert [e.active for e in graffiti] == [True], events
    assert graffiti[0].t > int((T0 + timedelta(seconds=PAINT_FROM / 10)).timestamp() * 1000)
    assert graffiti[0].values["graffitiArea"] == pytest.approx(painted, rel=0.25)
    areas = [r.v for r in readings if r.field == "graffitiArea"]
    assert areas, "graffitiArea is reported as a reading"
    assert areas[-1] == pytest.approx(painted, rel=0.25)
    # The tag changes no camera-health verdict.
    assert {e.type for e in events} == {"graffiti"}
    # The operator accepts the wall as it is (a permitted mural): cleared, reference renewed.
    cleared = m.acknowledge("graffiti", now=now)
    assert [(e.type, e.active) for e in cleared] == [("graffiti", False)]
    assert "graffiti" not in m.active


def test_people_walking_past_the_wall_are_not_graffiti() -> None:
    detector = GraffitiDetector(config=GRAFFITI)
    skipped: dict[str | None, int] = {}
    largest = 0.0
    for i, (now, image) in enumerate(frames()):
        if i % 5:
            continue
        for result in detector.observe(image, now=now):
            skipped[result.skipped] = skipped.get(result.skipped, 0) + 1
            largest = max(largest, result.area_m2 or 0.0)
            assert result.event is None
    assert skipped.get("moving", 0) > 5, "people walked past and those looks were skipped"
    assert largest < GRAFFITI.min_area_m2


def test_detector_boxes_on_the_wall_skip_the_look() -> None:
    detector = GraffitiDetector(config=GRAFFITI)
    now, image = next(frames())
    person_on_wall = ((X0 + 0.05, 0.2, X0 + 0.15, 0.9),)
    assert detector.observe(image, now=now, occluders=person_on_wall)[0].skipped == "occluded"
    elsewhere = ((0.8, 0.6, 0.9, 0.9),)
    assert detector.observe(image, now=now, occluders=elsewhere)[0].skipped != "occluded"
