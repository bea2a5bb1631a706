"""Detector plugins chosen by ``type:``; the real ONNX plugin on the real models."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import get_args

import cv2
import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from edge.vision.detector import (
    DETECTORS,
    DetectorConfig,
    StaticConfig,
    StaticDetector,
    YoloxOnnxConfig,
    build_detector,
)
from edge.vision.manifest import ModelRefusedError, load_manifest
from tests.shared_data import vision_dir

ADAPTER: TypeAdapter[YoloxOnnxConfig | StaticConfig] = TypeAdapter(DetectorConfig)


def test_type_selects_the_plugin_config() -> None:
    cfg = ADAPTER.validate_python({"type": "yolox_onnx", "model": "m", "threads": 2})
    assert isinstance(cfg, YoloxOnnxConfig)
    assert cfg.threads == 2
    assert isinstance(ADAPTER.validate_python({"type": "static"}), StaticConfig)


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "tflite", "model": "m"},
        {"type": "yolox_onnx", "model": "m", "colour": "red"},
        {"type": "yolox_onnx", "model": "m", "threads": 0},
        {"model": "m"},
    ],
)
def test_bad_detector_config_is_rejected(raw: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ADAPTER.validate_python(raw)


def test_registry_covers_every_config_type() -> None:
    union = get_args(get_args(DetectorConfig)[0])
    names = {cls.model_fields["type"].default for cls in union}
    assert names == set(DETECTORS)


def test_config_is_frozen() -> None:
    cfg = YoloxOnnxConfig(model="m")
    with pytest.raises(ValidationError):
        setattr(cfg, "threads", 3)  # noqa: B010


def test_static_twin_returns_its_boxes() -> None:
    det = build_detector(StaticConfig(boxes=((1, 2, 3, 4, 0.9),)), load_manifest())
    assert isinstance(det, StaticDetector)
    found = det.detect(np.zeros((10, 10, 3), np.uint8))
    assert found.boxes.tolist() == [[1, 2, 3, 4]]


@pytest.mark.parametrize(
    ("model", "image", "people"),
    [
        ("yolox_nano_coco_416", "darknet_person.jpg", 1),
        ("person_detector_192", "darknet_person.jpg", 1),
        ("yolox_nano_coco_416", "darknet_dog.jpg", 0),
        ("yolox_nano_coco_416", "coco_val2017_000000008211.jpg", 2),
    ],
)
def test_real_model_on_real_image(model: str, image: str, people: int) -> None:
    cfg = YoloxOnnxConfig(model=model, model_dir=vision_dir() / "models")
    det = build_detector(cfg, load_manifest())
    frame = cv2.imread(str(vision_dir() / "images" / image))
    assert frame is not None
    found = det.detect(np.asarray(frame, np.uint8))
    assert len(found) == people
    h, w = frame.shape[:2]
    assert np.all(found.boxes[:, 2] <= w)
    assert np.all(found.boxes[:, 3] <= h)


def test_agent_refuses_tampered_model(tmp_path: Path) -> None:
    src = vision_dir() / "models" / "person_detector_192.onnx"
    dst = tmp_path / src.name
    shutil.copyfile(src, dst)
    with dst.open("r+b") as fh:
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 1]))
    cfg = YoloxOnnxConfig(model="person_detector_192", model_dir=tmp_path)
    with pytest.raises(ModelRefusedError, match=r"SHA-256 .* differs from the manifest"):
        build_detector(cfg, load_manifest())
