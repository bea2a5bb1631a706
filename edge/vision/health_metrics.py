"""Per-frame image measurements for camera health (exposure, structure, frame change).

Everything here is an absolute measurement of one frame; whether a value is a fault is
decided later against the camera's own baseline (:mod:`edge.vision.health_baseline`) and
debounced by the pure state machine (:mod:`edge.vision.health_state`). Frames are only
read; nothing is written anywhere.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from edge.vision.health_types import Exposure, GreyImage, Structure


def to_grey(frame: npt.NDArray[np.uint8]) -> GreyImage:
    """Full-resolution grey image; accepts BGR, BGRA or already-grey frames."""
    if frame.ndim == 2:
        return frame
    if frame.shape[2] == 4:
        return np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY), dtype=np.uint8)
    return np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), dtype=np.uint8)


def downscale(grey: GreyImage, width: int) -> GreyImage:
    """Area-averaged copy ``width`` wide: cheaper checks, and sensor noise averages out."""
    h, w = grey.shape
    if w <= width:
        return grey
    height = max(1, round(h * width / w))
    return np.asarray(cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA))


def changed_fraction(grey: GreyImage, previous: GreyImage | None) -> float | None:
    """Share of pixels whose value changed at all since the previous frame.

    A live sensor changes most pixels every frame through noise even in a still scene; a
    stuck pipeline repeats the very same bytes. ``None`` when there is nothing to compare.
    """
    if previous is None or previous.shape != grey.shape:
        return None
    return float(cv2.countNonZero(cv2.absdiff(grey, previous))) / float(grey.size)


def exposure(small: GreyImage, *, dark_level: int, bright_level: int) -> Exposure:
    hist = cv2.calcHist([small], [0], None, [256], [0, 256]).ravel()
    total = float(hist.sum()) or 1.0
    mean = float(np.dot(hist, np.arange(256, dtype=np.float32))) / total
    return Exposure(
        mean_luma=mean,
        dark_fraction=float(hist[:dark_level].sum()) / total,
        bright_fraction=float(hist[bright_level:].sum()) / total,
    )


def structure(small: GreyImage, grid: tuple[int, int]) -> Structure:
    """Laplacian variance, Canny edge density and per-cell contrast of the small image."""
    lap = cv2.Laplacian(small, cv2.CV_32F)
    _, lap_std = cv2.meanStdDev(lap)
    edges = cv2.Canny(small, 50, 150)
    edge_density = float(cv2.countNonZero(edges)) / float(edges.size)
    cols, rows = grid
    f = small.astype(np.float32)
    # Cell mean and mean of squares by area averaging: two resizes instead of a loop.
    mean = cv2.resize(f, (cols, rows), interpolation=cv2.INTER_AREA)
    mean_sq = cv2.resize(f * f, (cols, rows), interpolation=cv2.INTER_AREA)
    var = np.maximum(mean_sq - mean * mean, 0.0)
    return Structure(
        laplacian_var=float(lap_std[0, 0]) ** 2,
        edge_density=edge_density,
        cell_std=np.sqrt(var).astype(np.float32),
    )
