"""Plain value types shared by the OpenCV measurements and the pure health logic.

Kept apart so the pure modules (baseline, state machine) never import OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

GreyImage = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Exposure:
    mean_luma: float
    dark_fraction: float
    bright_fraction: float


@dataclass(frozen=True, slots=True)
class Structure:
    """Sharpness and texture: global values and a coarse grid of per-cell contrast."""

    laplacian_var: float
    edge_density: float
    cell_std: FloatArray  # shape (rows, cols), grey-level standard deviation per cell
