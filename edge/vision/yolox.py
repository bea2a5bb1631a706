"""YOLOX pre- and post-processing as pure numpy: letterbox blob, grid decode, greedy NMS.

This module imports numpy only (no onnxruntime, no OpenCV), so it can be tested with
tables of numbers and imported anywhere. The one resize it needs is done by the caller
(:mod:`edge.vision.detector_onnx`, with OpenCV) between :func:`letterbox_geometry` and
:func:`blob_from_resized`.

Recipe (both shared models; the decode is not inside their graphs): keep BGR; scale by
``r = min(H_in/h, W_in/w)``; paste the resized image at the top-left of an ``H_in x W_in``
canvas filled with 114; CHW float32 of raw 0..255 values. The output ``[1, N, 5 + C]`` holds
the stride-8, then stride-16, then stride-32 grids, each row-major (x fastest); columns are
tx, ty, tw, th, objectness, class scores, sigmoid already applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import numpy as np
from numpy.typing import NDArray

STRIDES: Final = (8, 16, 32)
PAD_VALUE: Final = 114
FloatArray = NDArray[np.float32]
IntArray = NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a frame of ``h x w`` pixels maps into the model input (top-left aligned)."""

    ratio: float
    new_w: int
    new_h: int
    in_w: int
    in_h: int


def letterbox_geometry(h: int, w: int, *, in_h: int, in_w: int) -> Letterbox:
    """The scale and resized size for a ``h x w`` frame; raises ValueError on an empty frame."""
    if h <= 0 or w <= 0:
        raise ValueError(f"empty frame {w}x{h}")
    r = min(in_h / h, in_w / w)
    return Letterbox(
        ratio=r,
        new_w=max(1, min(in_w, int(w * r))),
        new_h=max(1, min(in_h, int(h * r))),
        in_w=in_w,
        in_h=in_h,
    )


def blob_from_resized(resized: NDArray[np.uint8], box: Letterbox) -> FloatArray:
    """Paste an already resized BGR image onto a 114 canvas; returns ``1x3xHxW`` float32."""
    if resized.shape[:2] != (box.new_h, box.new_w) or resized.ndim != 3:
        raise ValueError(
            f"resized image is {resized.shape}, expected ({box.new_h}, {box.new_w}, 3)"
        )
    canvas = np.full((box.in_h, box.in_w, 3), PAD_VALUE, dtype=np.float32)
    canvas[: box.new_h, : box.new_w] = resized
    return np.ascontiguousarray(canvas.transpose(2, 0, 1)[None])


@lru_cache(maxsize=8)
def _grid(in_h: int, in_w: int, strides: tuple[int, ...]) -> tuple[FloatArray, FloatArray]:
    cells: list[FloatArray] = []
    steps: list[FloatArray] = []
    for s in strides:
        gh, gw = in_h // s, in_w // s
        ys, xs = np.mgrid[0:gh, 0:gw]
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32))
        steps.append(np.full((gh * gw, 1), s, dtype=np.float32))
    grid, stride = np.concatenate(cells), np.concatenate(steps)
    grid.setflags(write=False)
    stride.setflags(write=False)
    return grid, stride


def grid_rows(in_h: int, in_w: int, strides: tuple[int, ...] = STRIDES) -> int:
    """How many output rows a YOLOX head has for this input size."""
    return sum((in_h // s) * (in_w // s) for s in strides)


@dataclass(frozen=True, slots=True)
class Detections:
    """Boxes ``[K, 4]`` as x1, y1, x2, y2 in frame pixels and scores ``[K]``; in memory only."""

    boxes: FloatArray
    scores: FloatArray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @staticmethod
    def empty() -> Detections:
        return Detections(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    def take(self, index: IntArray | NDArray[np.bool_]) -> Detections:
        return Detections(self.boxes[index], self.scores[index])

    def shifted(self, dx: float, dy: float) -> Detections:
        offset = np.array([dx, dy, dx, dy], dtype=np.float32)
        return Detections(self.boxes + offset, self.scores)

    @staticmethod
    def concat(parts: list[Detections]) -> Detections:
        if not parts:
            return Detections.empty()
        return Detections(
            np.concatenate([p.boxes for p in parts]).astype(np.float32, copy=False),
            np.concatenate([p.scores for p in parts]).astype(np.float32, copy=False),
        )


def decode(
    output: FloatArray,
    box: Letterbox,
    *,
    class_index: int,
    score_threshold: float,
    strides: tuple[int, ...] = STRIDES,
) -> Detections:
    """Decode raw YOLOX rows into boxes of one class in original-frame pixels.

    Score is objectness x class score; rows below ``score_threshold`` are dropped. Boxes
    are clipped to the letterboxed image area. Raises ValueError when the output's shape
    does not match the input size and strides (a wrong model or manifest entry).
    """
    rows = output.reshape(-1, output.shape[-1])
    expected = grid_rows(box.in_h, box.in_w, strides)
    if rows.shape[0] != expected or rows.shape[1] < 6 or 5 + class_index >= rows.shape[1]:
        raise ValueError(
            f"model output {tuple(output.shape)} does not fit a YOLOX head for "
            f"{box.in_w}x{box.in_h} (expected {expected} rows) and class {class_index}"
        )
    scores = rows[:, 4] * rows[:, 5 + class_index]
    keep = np.flatnonzero(scores >= score_threshold)
    if keep.size == 0:
        return Detections.empty()
    grid, stride = _grid(box.in_h, box.in_w, strides)
    sel = rows[keep, :4].astype(np.float32)
    centre = (sel[:, :2] + grid[keep]) * stride[keep]
    size = np.exp(np.minimum(sel[:, 2:4], 10.0)) * stride[keep]
    half = size / 2
    xyxy = np.concatenate([centre - half, centre + half], axis=1) / np.float32(box.ratio)
    lim_w, lim_h = box.new_w / box.ratio, box.new_h / box.ratio
    np.clip(xyxy[:, 0::2], 0, lim_w, out=xyxy[:, 0::2])
    np.clip(xyxy[:, 1::2], 0, lim_h, out=xyxy[:, 1::2])
    return Detections(xyxy.astype(np.float32), scores[keep].astype(np.float32))


def areas(boxes: FloatArray) -> FloatArray:
    """Area of each x1, y1, x2, y2 box (zero for degenerate boxes)."""
    wh = np.clip(boxes[:, 2:4] - boxes[:, 0:2], 0, None)
    return np.asarray(wh[:, 0] * wh[:, 1], dtype=np.float32)


def intersections(box: FloatArray, others: FloatArray) -> FloatArray:
    """Intersection area of one box with each of ``others``."""
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    return np.asarray(np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None), dtype=np.float32)


def nms(
    dets: Detections, *, iou_threshold: float, ios_threshold: float | None = None
) -> Detections:
    """Greedy non-maximum suppression, highest score first.

    A box is suppressed when its IoU with a kept box exceeds ``iou_threshold`` or, when
    ``ios_threshold`` is given, when its intersection over the smaller of the two areas
    exceeds it (catches a partial box nested in a whole one, as tiling produces).
    """
    if len(dets) == 0:
        return dets
    order = np.argsort(-dets.scores, kind="stable")
    area = areas(dets.boxes)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if rest.size == 0:
            break
        inter = intersections(dets.boxes[i], dets.boxes[rest])
        union = area[i] + area[rest] - inter
        iou = inter / np.maximum(union, 1e-6)
        drop = iou > iou_threshold
        if ios_threshold is not None:
            smaller = np.maximum(np.minimum(area[i], area[rest]), 1e-6)
            drop |= (inter / smaller) > ios_threshold
        order = rest[~drop]
    return dets.take(np.array(keep, dtype=np.intp))
