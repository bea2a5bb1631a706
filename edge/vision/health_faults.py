"""Camera faults as image transforms, for the simulated camera twin and for tests.

Each returns a new image and leaves the input alone. They imitate what happens to a real
camera: defocus (Gaussian blur), something held or taped in front of it (a flat patch over
most of the frame), paint sprayed on the lens (a blotchy, out-of-focus colour layer),
lights out, glare, and a camera knocked or turned (shift, rotation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
Transform = Callable[[Image], Image]


def blur(image: Image, *, sigma: float = 4.0) -> Image:
    return np.asarray(cv2.GaussianBlur(image, (0, 0), sigma), dtype=np.uint8)


def cover(
    image: Image, *, share: float = 0.9, colour: tuple[int, int, int] = (90, 100, 110)
) -> Image:
    """A flat object over the central ``share`` of the frame (both directions)."""
    out = image.copy()
    h, w = image.shape[:2]
    mh, mw = int(h * (1 - share) / 2), int(w * (1 - share) / 2)
    out[mh : h - mh, mw : w - mw] = colour
    return out


def spray(image: Image, *, opacity: float = 0.8, seed: int = 1) -> Image:
    """Semi-transparent paint on the lens: blotchy opacity around ``opacity``."""
    h, w = image.shape[:2]
    rng = np.random.default_rng(seed)
    blotch = cv2.GaussianBlur(rng.random((h // 16, w // 16)).astype(np.float32), (0, 0), 1.5)
    blotch = cv2.resize(blotch, (w, h))
    span = float(blotch.max() - blotch.min()) or 1.0
    alpha = np.clip(opacity + 0.2 * ((blotch - blotch.min()) / span - 0.5), 0, 1)[..., None]
    paint = np.array((40, 160, 60), dtype=np.float32)
    mixed = image.astype(np.float32) * (1 - alpha) + paint * alpha
    return np.asarray(cv2.GaussianBlur(mixed, (0, 0), 2.0), dtype=np.float32).astype(np.uint8)


def darken(image: Image, *, gain: float = 0.12) -> Image:
    return np.asarray(cv2.convertScaleAbs(image, alpha=gain), dtype=np.uint8)


def overexpose(image: Image, *, gain: float = 3.5, offset: float = 60.0) -> Image:
    return np.asarray(cv2.convertScaleAbs(image, alpha=gain, beta=offset), dtype=np.uint8)


def shift(image: Image, *, dx: float = 30.0, dy: float = 10.0) -> Image:
    matrix = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    return _warp(image, matrix)


def rotate(image: Image, *, degrees: float = 8.0) -> Image:
    h, w = image.shape[:2]
    return _warp(image, cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0))


def _warp(image: Image, matrix: npt.NDArray[Any]) -> Image:
    h, w = image.shape[:2]
    return np.asarray(
        cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT), dtype=np.uint8
    )
