"""Person detector plugins, chosen by ``type:`` in the config.

``DetectorConfig`` is a pydantic discriminated union; :data:`DETECTORS` is the explicit
registry from ``type`` to a factory. The ONNX plugin's module (the one owner of
onnxruntime) is imported only when that plugin is built, so this module stays light.

Config shape (YAML)::

    detector:
      type: yolox_onnx          # or: static (the simulated twin)
      model: yolox_nano_coco_416  # a key of firmware-config/models.yaml
      model_dir: /var/lib/trygg/models
      threads: 1
      score_threshold: 0.25
      nms_iou: 0.45
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Final, Literal, Protocol

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from edge.vision.manifest import Manifest
from edge.vision.yolox import Detections


class PersonDetector(Protocol):
    """Finds people in a BGR image of any size; boxes come back in that image's pixels."""

    @property
    def name(self) -> str: ...

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the network input."""
        ...

    def detect(self, image: NDArray[np.uint8]) -> Detections: ...


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class YoloxOnnxConfig(_Config):
    """A YOLOX-format ONNX model from the manifest, run by ONNX Runtime on the CPU."""

    type: Literal["yolox_onnx"] = "yolox_onnx"
    model: str = Field(min_length=1, description="manifest key, e.g. yolox_nano_coco_416")
    model_dir: Path = Path("/var/lib/trygg/models")
    threads: int = Field(default=1, ge=1, le=16, description="intra-op threads")
    score_threshold: float = Field(default=0.25, gt=0, lt=1)
    nms_iou: float = Field(default=0.45, gt=0, le=1)
    warmup_runs: int = Field(default=1, ge=0, le=10)


class StaticConfig(_Config):
    """The simulated twin: returns the same boxes (x1, y1, x2, y2, score) every frame."""

    type: Literal["static"] = "static"
    boxes: tuple[tuple[float, float, float, float, float], ...] = ()
    input_width: int = 416
    input_height: int = 416


DetectorConfig = Annotated[YoloxOnnxConfig | StaticConfig, Field(discriminator="type")]


class StaticDetector:
    """Simulated detector for tests and the simulator; no model, no frames kept."""

    def __init__(self, *, config: StaticConfig) -> None:
        self._config = config
        rows = np.array(config.boxes, dtype=np.float32).reshape(-1, 5)
        self._dets = Detections(rows[:, :4].copy(), rows[:, 4].copy())

    @property
    def name(self) -> str:
        return "static"

    @property
    def input_size(self) -> tuple[int, int]:
        return (self._config.input_width, self._config.input_height)

    def detect(self, image: NDArray[np.uint8]) -> Detections:
        h, w = image.shape[:2]
        b = self._dets.boxes
        inside = (b[:, 0] < w) & (b[:, 1] < h)
        return self._dets.take(inside)


def _build_onnx(config: YoloxOnnxConfig | StaticConfig, manifest: Manifest) -> PersonDetector:
    if not isinstance(config, YoloxOnnxConfig):
        raise TypeError(f"yolox_onnx factory got {type(config).__name__}")
    from edge.vision.detector_onnx import OnnxYoloxDetector

    entry = manifest.entry(config.model)
    return OnnxYoloxDetector.from_file(
        path=config.model_dir / entry.file,
        entry=entry,
        name=config.model,
        threads=config.threads,
        score_threshold=config.score_threshold,
        nms_iou=config.nms_iou,
        warmup_runs=config.warmup_runs,
    )


def _build_static(config: YoloxOnnxConfig | StaticConfig, manifest: Manifest) -> PersonDetector:
    del manifest
    if not isinstance(config, StaticConfig):
        raise TypeError(f"static factory got {type(config).__name__}")
    return StaticDetector(config=config)


Factory = Callable[[YoloxOnnxConfig | StaticConfig, Manifest], PersonDetector]
DETECTORS: Final[dict[str, Factory]] = {
    "yolox_onnx": _build_onnx,
    "static": _build_static,
}


def build_detector(config: YoloxOnnxConfig | StaticConfig, manifest: Manifest) -> PersonDetector:
    """Build the plugin named by ``config.type``.

    Raises ModelRefusedError (from the manifest check) when the model is unknown or its
    SHA-256 differs, and DetectorError (ONNX plugin) when the runtime cannot load it.
    """
    return DETECTORS[config.type](config, manifest)
