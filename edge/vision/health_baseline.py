"""The camera's own notion of "normal", learned per lighting profile, and scores against it.

A global constant ("Laplacian variance < 100 is blurry") fails because it depends on the
scene: a car park of plain asphalt is "blurry" by that rule on a perfect day. So each
camera learns medians of its measurements over a baseline period and afterwards scores
every frame as a ratio to them. The baseline follows slow change (seasons, foliage) with a
long time constant, but only while no fault is showing, so a fault is never learned away.

Pure: numpy only, no OpenCV, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from statistics import median

import numpy as np

from edge.vision.health_config import Duration
from edge.vision.health_types import Exposure, FloatArray, Structure


@dataclass(frozen=True, slots=True)
class BaselineStats:
    laplacian_var: float
    edge_density: float
    mean_luma: float
    cell_std: FloatArray
    inliers: float | None  # ORB/RANSAC agreement of normal frames with the reference view


class BaselineLearner:
    """Collects measurements until ``duration`` (frames AND seconds) has passed."""

    def __init__(self, *, duration: Duration) -> None:
        self._duration = duration
        self._started: datetime | None = None
        self._lap: list[float] = []
        self._edges: list[float] = []
        self._luma: list[float] = []
        self._cells: list[FloatArray] = []
        self._inliers: list[int] = []

    @property
    def frames(self) -> int:
        return len(self._lap)

    @property
    def inlier_samples(self) -> int:
        return len(self._inliers)

    def add(self, structure: Structure, exposure: Exposure, now: datetime) -> None:
        if self._started is None:
            self._started = now
        self._lap.append(structure.laplacian_var)
        self._edges.append(structure.edge_density)
        self._luma.append(exposure.mean_luma)
        self._cells.append(structure.cell_std)

    def add_inliers(self, inliers: int) -> None:
        self._inliers.append(inliers)

    def complete(self, now: datetime) -> bool:
        return (
            self._started is not None
            and self.frames >= self._duration.frames
            and (now - self._started).total_seconds() >= self._duration.seconds
        )

    def result(self) -> BaselineStats:
        """Medians of what was seen; raises ValueError when nothing was added."""
        if not self._lap:
            raise ValueError("no frames in the baseline")
        cells = np.median(np.stack(self._cells), axis=0).astype(np.float32)
        return BaselineStats(
            laplacian_var=median(self._lap),
            edge_density=median(self._edges),
            mean_luma=median(self._luma),
            cell_std=cells,
            inliers=float(median(self._inliers)) if self._inliers else None,
        )


def adapt(
    base: BaselineStats, structure: Structure, exposure: Exposure, *, weight: float
) -> BaselineStats:
    """Move the baseline ``weight`` (0..1) of the way towards this healthy frame."""
    w = min(1.0, max(0.0, weight))

    def mix(old: float, new: float) -> float:
        return old + w * (new - old)

    return replace(
        base,
        laplacian_var=mix(base.laplacian_var, structure.laplacian_var),
        edge_density=mix(base.edge_density, structure.edge_density),
        mean_luma=mix(base.mean_luma, exposure.mean_luma),
        cell_std=(base.cell_std + w * (structure.cell_std - base.cell_std)).astype(np.float32),
    )


def adapt_weight(elapsed_s: float, time_constant_s: float) -> float:
    """Exponential-smoothing weight for a frame ``elapsed_s`` after the previous one."""
    return 1.0 - math.exp(-max(0.0, elapsed_s) / time_constant_s)


def _ratio(value: float, base: float) -> float:
    # A featureless baseline (0) gives no scale: treat as "as usual" rather than divide by 0.
    return value / base if base > 1e-9 else 1.0


def covered_fraction(
    cell_std: FloatArray, base_cells: FloatArray, *, min_texture: float, ratio: float
) -> float | None:
    """Share of the baseline's textured cells whose contrast collapsed below ``ratio``."""
    textured = base_cells >= min_texture
    count = int(np.count_nonzero(textured))
    if count == 0 or cell_std.shape != base_cells.shape:
        return None
    lost = textured & (cell_std < ratio * base_cells)
    return int(np.count_nonzero(lost)) / count


def structure_ratios(
    structure: Structure,
    base: BaselineStats,
    *,
    min_texture: float,
    cell_ratio: float,
    light: float = 1.0,
) -> tuple[float, float, float | None]:
    """(sharpness, edge density, covered fraction) of a frame relative to ``base``.

    ``light`` is the frame's mean luma over the baseline's. Contrast scales with the light
    (and Laplacian variance with its square), so dusk or a cloud dims the picture without
    making it look blurred or covered; a covering object collapses contrast at unchanged
    light and still shows. Edge density is reported as measured.
    """
    g = min(20.0, max(0.05, light))
    return (
        _ratio(structure.laplacian_var, base.laplacian_var * g * g),
        _ratio(structure.edge_density, base.edge_density),
        covered_fraction(
            structure.cell_std, base.cell_std, min_texture=min_texture, ratio=cell_ratio * g
        ),
    )


def luma_ratio(exposure: Exposure, base: BaselineStats) -> float:
    return _ratio(exposure.mean_luma, base.mean_luma)
