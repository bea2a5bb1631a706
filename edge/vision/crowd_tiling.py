"""Sliced inference geometry and box merging across tile borders (pure numpy).

Single-pass detection shrinks a 1080p frame about 4.6x into a 416 input, and people far
from the camera fall below what the network can see. Tiling runs the detector on
overlapping windows of the full-resolution frame (each person is seen at up to native
scale) plus one full-frame pass for people too large for a tile. Merging:

1. A box from a tile that touches an *interior* tile edge is cut by the tile and is
   dropped: the overlap is chosen so that a person small enough to be cut is whole in a
   neighbouring tile, and a person too big for the overlap is whole in the full frame.
2. Greedy NMS over all remaining boxes (IoU), plus an intersection-over-smaller test that
   removes a partial box nested in a whole one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.vision.yolox import Detections, nms


@dataclass(frozen=True, slots=True)
class Tile:
    """A window ``[x0, x1) x [y0, y1)`` of the frame, and which of its edges are interior."""

    x0: int
    y0: int
    x1: int
    y1: int
    left_inner: bool
    top_inner: bool
    right_inner: bool
    bottom_inner: bool


def _starts(length: int, tile: int, overlap: float) -> list[int]:
    if length <= tile:
        return [0]
    step = tile * (1.0 - overlap)
    n = math.ceil((length - tile) / step) + 1
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def plan_tiles(h: int, w: int, *, tile: int, overlap: float, max_tiles: int) -> list[Tile]:
    """Overlapping square tiles of ``tile`` pixels covering an ``h x w`` frame.

    Tiles are spread evenly, so the real overlap is at least ``overlap`` (a fraction of the
    tile). When more than ``max_tiles`` would be needed the tile grows until they fit (the
    detector then sees a downscaled tile), which bounds the cost on very large frames.
    Returns an empty list when one tile would cover the whole frame (the full-frame pass
    already sees it at native scale or larger).
    """
    if not 0.0 <= overlap < 0.9:
        raise ValueError(f"overlap {overlap} outside [0, 0.9)")
    if tile < 16 or max_tiles < 1:
        raise ValueError(f"tile {tile} px / max_tiles {max_tiles} too small")
    size = tile
    while True:
        xs, ys = _starts(w, size, overlap), _starts(h, size, overlap)
        if len(xs) * len(ys) <= max_tiles:
            break
        size = math.ceil(size * 1.1)
    if len(xs) == 1 and len(ys) == 1:
        return []
    tiles: list[Tile] = []
    for y in ys:
        for x in xs:
            x1, y1 = min(w, x + size), min(h, y + size)
            tiles.append(
                Tile(
                    x0=x,
                    y0=y,
                    x1=x1,
                    y1=y1,
                    left_inner=x > 0,
                    top_inner=y > 0,
                    right_inner=x1 < w,
                    bottom_inner=y1 < h,
                )
            )
    return tiles


def drop_cut(dets: Detections, tile: Tile, *, margin: float) -> Detections:
    """Remove boxes (in tile coordinates) that touch an interior edge of ``tile``."""
    if len(dets) == 0:
        return dets
    b = dets.boxes
    tw, th = tile.x1 - tile.x0, tile.y1 - tile.y0
    cut = np.zeros(len(dets), dtype=np.bool_)
    if tile.left_inner:
        cut |= b[:, 0] <= margin
    if tile.top_inner:
        cut |= b[:, 1] <= margin
    if tile.right_inner:
        cut |= b[:, 2] >= tw - margin
    if tile.bottom_inner:
        cut |= b[:, 3] >= th - margin
    return dets.take(~cut)


def merge(parts: list[Detections], *, iou_threshold: float, ios_threshold: float) -> Detections:
    """Merge frame-coordinate detections from the full frame and the tiles into one set."""
    return nms(Detections.concat(parts), iou_threshold=iou_threshold, ios_threshold=ios_threshold)
