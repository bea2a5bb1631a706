"""Zones, ground homography, calibration into the device config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from edge.vision.crowd_config import load_crowd_config
from edge.vision.zones import (
    Zone,
    apply_homography,
    feet,
    in_polygon,
    polygon_area,
)
from edge.vision.zones_calibration import CalibrationError, calibrate, save_to_device_config

SQUARE = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], np.float64)


@pytest.mark.parametrize(
    ("point", "inside"),
    [((5, 5), True), ((11, 5), False), ((-1, -1), False), ((9.9, 0.1), True)],
)
def test_point_in_square(point: tuple[float, float], inside: bool) -> None:
    assert in_polygon(np.array([point], np.float64), SQUARE).tolist() == [inside]


def test_point_in_concave_polygon() -> None:
    u_shape = np.array([[0, 0], [9, 0], [9, 9], [6, 9], [6, 3], [3, 3], [3, 9], [0, 9]], float)
    pts = np.array([[1, 5], [4.5, 5], [7, 5], [4.5, 1]], np.float64)
    assert in_polygon(pts, u_shape).tolist() == [True, False, True, True]


def test_feet_are_bottom_centres() -> None:
    boxes = np.array([[10, 20, 30, 100]], np.float32)
    assert feet(boxes).tolist() == [[20.0, 100.0]]


def test_area_and_homography_of_a_pure_scale() -> None:
    h = np.diag([0.01, 0.02, 1.0])
    assert polygon_area(SQUARE) == 100
    zone = Zone.build(id="z", polygon=SQUARE.tolist(), homography=h)
    assert zone.area_m2 == pytest.approx(100 * 0.01 * 0.02)


def test_calibrated_perspective_gives_the_true_ground_area() -> None:
    # a 10 m x 20 m rectangle on the ground, seen in perspective as a trapezoid
    img = [(0, 1080), (1920, 1080), (1500, 500), (420, 500)]
    ground = [(0, 0), (10, 0), (10, 20), (0, 20)]
    cal = calibrate(img, ground)
    assert cal.rms_error_m < 1e-6
    mapped = apply_homography(cal.homography, np.array(img, np.float64))
    assert mapped == pytest.approx(np.array(ground, np.float64), abs=1e-6)
    zone = Zone.build(id="z", polygon=img, homography=cal.homography)
    assert zone.area_m2 == pytest.approx(200.0, rel=1e-6)


@pytest.mark.parametrize(
    ("img", "ground", "why"),
    [
        ([(0, 0), (1, 0), (0, 1)], [(0, 0), (1, 0), (0, 1)], "at least 4"),
        ([(0, 0), (1, 1), (2, 2), (3, 3)], [(0, 0), (1, 0), (2, 0), (0, 1)], "degenerate"),
        ([(0, 0), (1, 0), (0, 1), (1, 1)], [(0, 0), (1, 0), (0, 1)], "ground points"),
    ],
)
def test_bad_calibration_is_refused(img: object, ground: object, why: str) -> None:
    with pytest.raises(CalibrationError, match=why):
        calibrate(img, ground)


def test_zone_past_the_horizon_is_refused() -> None:
    img = [(0, 1080), (1920, 1080), (1060, 400), (860, 400)]  # steep: horizon near y=350
    ground = [(0, 0), (10, 0), (10, 20), (0, 20)]
    cal = calibrate(img, ground)
    sky = [(0, 0), (1920, 0), (1920, 1080), (0, 1080)]
    with pytest.raises(ValueError, match="horizon"):
        Zone.build(id="sky", polygon=sky, homography=cal.homography)


def test_calibration_is_saved_into_the_device_config(tmp_path: Path) -> None:
    path = tmp_path / "device.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "device": "pole-7",
                "vision": {
                    "crowd": {
                        "sensor": "cam-1",
                        "zones": [
                            {
                                "id": "square",
                                "polygon": [[0, 1080], [1920, 1080], [1500, 500], [420, 500]],
                            }
                        ],
                    }
                },
            }
        )
    )
    img = [(0, 1080), (1920, 1080), (1500, 500), (420, 500), (960, 700)]
    ground = [(0, 0), (10, 0), (10, 20), (0, 20)]
    ground.append(
        tuple(apply_homography(calibrate(img[:4], ground).homography, np.array([img[4]], float))[0])
    )
    cal = calibrate(img, ground)
    save_to_device_config(path, cal, image_points=img, ground_points=ground)
    doc = yaml.safe_load(path.read_text())
    assert doc["device"] == "pole-7"
    cfg = load_crowd_config(path)
    assert cfg.sensor == "cam-1"
    assert cfg.homography is not None
    assert cfg.calibration is not None
    assert len(cfg.calibration.image_points) == 5
    zone = Zone.build(id="square", polygon=cfg.zones[0].polygon, homography=cfg.homography)
    assert zone.area_m2 == pytest.approx(200.0, rel=1e-4)
