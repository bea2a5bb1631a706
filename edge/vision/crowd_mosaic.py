"""Crowd test frames built from real counted images (for tests and ``bench.crowd`` only).

An ``n x n`` mosaic puts ``n²`` real photos (aspect kept, INTER_AREA downscale, grey
padding) into one frame of the camera's size; its true count is the sum of the parts.
A 4x4 mosaic on 1920x1080 holds ~30-45 people at about half their original size, which
is the small-and-many regime single-pass detection misses.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class Counted:
    name: str
    image: NDArray[np.uint8]
    count: int


def load_counted(images_dir: Path) -> list[Counted]:
    """The images listed in ``counts.csv`` with their hand counts."""
    out: list[Counted] = []
    with (images_dir / "counts.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            image = cv2.imread(str(images_dir / row["file"]), cv2.IMREAD_COLOR)
            if image is None:
                raise FileNotFoundError(images_dir / row["file"])
            out.append(Counted(row["file"], np.asarray(image, dtype=np.uint8), int(row["count"])))
    return out


def mosaic(
    parts: list[Counted], *, n: int, width: int = 1920, height: int = 1080
) -> tuple[NDArray[np.uint8], int]:
    """An ``n x n`` grid of the first ``n²`` parts in one ``width x height`` frame."""
    if len(parts) < n * n:
        raise ValueError(f"need {n * n} images, got {len(parts)}")
    frame = np.full((height, width, 3), 114, dtype=np.uint8)
    cw, ch = width // n, height // n
    total = 0
    for k, part in enumerate(parts[: n * n]):
        h, w = part.image.shape[:2]
        r = min(cw / w, ch / h)
        small = cv2.resize(part.image, (int(w * r), int(h * r)), interpolation=cv2.INTER_AREA)
        y, x = (k // n) * ch, (k % n) * cw
        frame[y : y + small.shape[0], x : x + small.shape[1]] = small
        total += part.count
    return frame, total


def mosaics(
    counted: list[Counted],
    *,
    n: int,
    how_many: int,
    seed: int,
    width: int = 1920,
    height: int = 1080,
) -> list[tuple[NDArray[np.uint8], int]]:
    """``how_many`` reproducible mosaics; images are drawn with replacement when n² > pool."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(how_many):
        idx = rng.choice(len(counted), n * n, replace=n * n > len(counted))
        out.append(mosaic([counted[i] for i in idx], n=n, width=width, height=height))
    return out
