"""Ground-plane calibration: image points + ground positions (metres) -> homography.

Uses ``cv2.findHomography`` (least squares over all points; four or more points that are
not collinear). The result maps image pixels to ground metres and is written into the
device's config YAML under ``vision.crowd`` by ``trygg vision calibrate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from edge.vision.zones import Points, apply_homography, as_points


class CalibrationError(ValueError):
    """The points do not give a usable homography; the message says why."""


@dataclass(frozen=True, slots=True)
class Calibration:
    homography: Points
    rms_error_m: float


def calibrate(image_points: object, ground_points: object) -> Calibration:
    """Homography from >= 4 point pairs, with the RMS ground error of the fit in metres."""
    img, ground = as_points(image_points), as_points(ground_points)
    if img.shape[0] != ground.shape[0]:
        raise CalibrationError(f"{img.shape[0]} image points but {ground.shape[0]} ground points")
    if img.shape[0] < 4:
        raise CalibrationError(f"need at least 4 point pairs, got {img.shape[0]}")
    h, _mask = cv2.findHomography(img, ground, method=0)
    if h is None or not np.all(np.isfinite(h)) or abs(np.linalg.det(h)) < 1e-12:
        raise CalibrationError("degenerate points (collinear or repeated): no homography")
    hom: Points = np.asarray(h, dtype=np.float64)
    try:
        mapped = apply_homography(hom, img)
    except ValueError as exc:
        raise CalibrationError(str(exc)) from exc
    rms = float(np.sqrt(np.mean(np.sum((mapped - ground) ** 2, axis=1))))
    return Calibration(homography=hom / hom[2, 2], rms_error_m=rms)


def save_to_device_config(
    path: Path, calibration: Calibration, *, image_points: object, ground_points: object
) -> None:
    """Write ``vision.crowd.homography`` (and the points used) into the YAML at ``path``.

    Other keys are kept; the file is created if missing and replaced atomically.
    Comments in an existing file are not preserved (PyYAML drops them).
    """
    doc: dict[str, Any] = {}
    if path.exists():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        if loaded is not None and not isinstance(loaded, dict):
            raise CalibrationError(f"{path}: top level is not a mapping")
        doc = loaded or {}
    vision = doc.setdefault("vision", {})
    crowd = vision.setdefault("crowd", {})
    if not isinstance(vision, dict) or not isinstance(crowd, dict):
        raise CalibrationError(f"{path}: vision.crowd is not a mapping")
    crowd["homography"] = [[round(float(v), 10) for v in row] for row in calibration.homography]
    crowd["calibration"] = {
        "image_points": as_points(image_points).tolist(),
        "ground_points_m": as_points(ground_points).tolist(),
        "rms_error_m": round(calibration.rms_error_m, 4),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    tmp.replace(path)
