"""Pure YOLOX pre/post-processing: letterbox, grid decode, NMS (tables of numbers)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from edge.vision.yolox import (
    Detections,
    blob_from_resized,
    decode,
    grid_rows,
    letterbox_geometry,
    nms,
)
from tests.shared_data import PROJECT_ROOT

PURE_MODULES = [
    "edge.vision.yolox",
    "edge.vision.crowd_tiling",
    "edge.vision.zones",
    "edge.vision.manifest",
    "edge.vision.detector",
    "edge.vision.crowd_config",
    "edge.vision.crowd",
]


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_no_runtime(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "bad = sorted(m for m in ('onnxruntime', 'cv2', 'asyncio', 'aiomqtt', 'paho')"
        " if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", f"{module} imports {out.stdout.strip()}"


@pytest.mark.parametrize(
    ("h", "w", "size", "ratio", "new_w", "new_h"),
    [
        (1080, 1920, 416, 416 / 1920, 416, 234),
        (480, 640, 416, 0.65, 416, 312),
        (500, 375, 416, 0.832, 312, 416),
        (100, 100, 192, 1.92, 192, 192),
    ],
)
def test_letterbox_geometry(
    h: int, w: int, size: int, ratio: float, new_w: int, new_h: int
) -> None:
    box = letterbox_geometry(h, w, in_h=size, in_w=size)
    assert math.isclose(box.ratio, ratio)
    assert (box.new_w, box.new_h) == (new_w, new_h)


def test_letterbox_rejects_empty() -> None:
    with pytest.raises(ValueError, match="empty"):
        letterbox_geometry(0, 10, in_h=416, in_w=416)


def test_blob_pads_bottom_right_with_114_and_keeps_raw_values() -> None:
    box = letterbox_geometry(2, 4, in_h=8, in_w=8)
    resized = np.full((box.new_h, box.new_w, 3), 7, np.uint8)
    resized[0, 0] = (1, 2, 3)
    blob = blob_from_resized(resized, box)
    assert blob.shape == (1, 3, 8, 8)
    assert blob.dtype == np.float32
    assert blob[0, :, 0, 0].tolist() == [1.0, 2.0, 3.0]
    assert blob[0, 0, 3, 7] == 7.0
    assert blob[0, 0, 4, 0] == 114.0


def test_grid_rows_match_both_shared_models() -> None:
    assert grid_rows(416, 416) == 3549
    assert grid_rows(192, 192) == 756


def _raw(size: int, classes: int) -> np.ndarray:
    return np.zeros((1, grid_rows(size, size), 5 + classes), np.float32)


def test_decode_one_cell_per_stride() -> None:
    raw = _raw(416, 80)
    # stride 8, cell (3, 2): row 2*52 + 3
    raw[0, 2 * 52 + 3] = [0.5, 0.5, math.log(2), math.log(4), 0.9, 0.8, *([0.0] * 79)]
    # stride 32, cell (1, 1) of the 13x13 grid: rows after 52² + 26²
    row = 52 * 52 + 26 * 26 + 13 + 1
    raw[0, row, :6] = [0.0, 0.0, 0.0, 0.0, 1.0, 0.5]
    box = letterbox_geometry(832, 832, in_h=416, in_w=416)  # ratio 0.5
    dets = decode(raw, box, class_index=0, score_threshold=0.3)
    order = np.argsort(-dets.scores)
    boxes, scores = dets.boxes[order], dets.scores[order]
    assert scores.tolist() == pytest.approx([0.72, 0.5])
    # centre (3.5*8, 2.5*8) = (28, 20), size (16, 32) input px; /0.5 for the frame
    assert boxes[0].tolist() == pytest.approx([40, 8, 72, 72])
    # centre (32, 32), size 32 -> frame (32..96)
    assert boxes[1].tolist() == pytest.approx([32, 32, 96, 96])


def test_decode_uses_the_person_class_column_and_threshold() -> None:
    raw = _raw(192, 1)
    raw[0, 0, :6] = [0, 0, 0, 0, 0.5, 0.5]  # 0.25 < 0.3
    raw[0, 1, :6] = [0, 0, 0, 0, 0.6, 0.6]  # 0.36
    box = letterbox_geometry(192, 192, in_h=192, in_w=192)
    assert len(decode(raw, box, class_index=0, score_threshold=0.3)) == 1


def test_decode_rejects_wrong_shape() -> None:
    box = letterbox_geometry(416, 416, in_h=416, in_w=416)
    with pytest.raises(ValueError, match="does not fit"):
        decode(_raw(192, 1), box, class_index=0, score_threshold=0.3)


def test_nms_keeps_best_of_overlaps_and_distinct_boxes() -> None:
    dets = Detections(
        np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32),
        np.array([0.6, 0.9, 0.5], np.float32),
    )
    kept = nms(dets, iou_threshold=0.45)
    assert sorted(kept.scores.tolist()) == pytest.approx([0.5, 0.9])


def test_nms_ios_removes_a_nested_partial_box() -> None:
    dets = Detections(
        np.array([[0, 0, 10, 40], [0, 0, 10, 12]], np.float32),
        np.array([0.9, 0.8], np.float32),
    )
    assert len(nms(dets, iou_threshold=0.45)) == 2
    assert len(nms(dets, iou_threshold=0.45, ios_threshold=0.8)) == 1


def test_nms_on_empty() -> None:
    assert len(nms(Detections.empty(), iou_threshold=0.5)) == 0
