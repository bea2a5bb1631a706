"""Zones and the ground plane (pure numpy).

A person is in a zone when the bottom centre of their box (the feet) lies inside the
zone's image polygon. A ground-plane homography (image pixels -> metres, from
:mod:`edge.vision.zones_calibration`) maps the polygon onto the ground, where its area in
m² turns a count into persons/m² (rated by :mod:`trygg.fruin`). Straight lines stay straight under a homography, so
mapping the vertices gives the exact ground polygon as long as the zone lies below the
horizon (checked).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Points = NDArray[np.float64]


def as_points(points: object) -> Points:
    """``[[x, y], ...]`` as an ``N x 2`` float64 array; raises ValueError otherwise."""
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"expected N x 2 points, got shape {arr.shape}")
    return arr


def feet(boxes: NDArray[np.float32]) -> Points:
    """Bottom centre of each x1, y1, x2, y2 box."""
    b = boxes.astype(np.float64, copy=False)
    return np.stack([(b[:, 0] + b[:, 2]) / 2, b[:, 3]], axis=1)


def in_polygon(points: Points, polygon: Points) -> NDArray[np.bool_]:
    """Which points lie inside ``polygon`` (even-odd ray casting, vectorised)."""
    if points.shape[0] == 0:
        return np.zeros(0, dtype=np.bool_)
    x, y = points[:, 0:1], points[:, 1:2]
    x1, y1 = polygon[:, 0], polygon[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    crosses = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    hits = crosses & (x < x_at)
    return np.asarray(np.count_nonzero(hits, axis=1) % 2 == 1)


def polygon_area(polygon: Points) -> float:
    """Area of a simple polygon (shoelace), in the polygon's units squared."""
    x, y = polygon[:, 0], polygon[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def apply_homography(h: Points, points: Points) -> Points:
    """Map image points through a 3x3 homography; raises ValueError past the horizon."""
    homog = np.concatenate([points, np.ones((points.shape[0], 1))], axis=1) @ h.T
    w = homog[:, 2]
    if np.any(np.abs(w) < 1e-12) or (np.any(w > 0) and np.any(w < 0)):
        raise ValueError("points straddle or lie on the horizon of the ground homography")
    return homog[:, :2] / w[:, None]


@dataclass(frozen=True, slots=True)
class Zone:
    """An image polygon and, when calibrated, its ground area in m²."""

    id: str
    polygon: Points
    area_m2: float | None

    @staticmethod
    def build(
        *, id: str, polygon: object, homography: object | None, area_m2: float | None = None
    ) -> Zone:
        """A zone whose ground area comes from ``area_m2`` or else the homography.

        Raises ValueError for fewer than three vertices, a zone reaching past the horizon
        or a zero ground area.
        """
        poly = as_points(polygon)
        if poly.shape[0] < 3:
            raise ValueError(f"zone {id}: a polygon needs at least 3 points")
        area = area_m2
        if area is None and homography is not None:
            h = np.asarray(homography, dtype=np.float64).reshape(3, 3)
            area = polygon_area(apply_homography(h, poly))
        if area is not None and area <= 0:
            raise ValueError(f"zone {id}: ground area {area} m² is not positive")
        return Zone(id=id, polygon=poly, area_m2=area)

    def contains(self, points: Points) -> NDArray[np.bool_]:
        return in_polygon(points, self.polygon)
