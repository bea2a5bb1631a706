"""Typed, frozen config of the crowd counter (the ``vision.crowd`` section of a device YAML).

Example::

    vision:
      crowd:
        sensor: cam-1
        interval_s: 10
        detector: {type: yolox_onnx, model: yolox_nano_coco_416, model_dir: /var/lib/trygg/models}
        tiling: {enabled: true, tile_px: 416, overlap: 0.25, max_tiles: 24}
        homography: [[...], [...], [...]]   # written by `trygg vision calibrate`
        zones:
          - id: square-north
            polygon: [[100, 700], [1800, 700], [1900, 1080], [0, 1080]]
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.vision.detector import DetectorConfig, YoloxOnnxConfig
from trygg.fruin import CONGESTED_DENSITY

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Point = tuple[float, float]


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TilingConfig(_Config):
    """Sliced inference. Defaults: 416 px tiles (YOLOX-Nano's input, i.e. native scale),
    25 % overlap, at most 24 tiles (a 1080p frame needs 18), plus the full-frame pass."""

    enabled: bool = True
    tile_px: int = Field(default=416, ge=64, le=4096)
    overlap: float = Field(default=0.25, ge=0.0, lt=0.9)
    max_tiles: int = Field(default=24, ge=1, le=256)
    full_frame: bool = True
    merge_iou: float = Field(default=0.45, gt=0, le=1)
    merge_ios: float = Field(default=0.8, gt=0, le=1)
    edge_margin_px: float = Field(default=2.0, ge=0, le=32)


class ZoneConfig(_Config):
    id: Name
    polygon: tuple[Point, ...] = Field(min_length=3, max_length=64, description="image px")
    area_m2: float | None = Field(default=None, gt=0, description="overrides the homography")


class CalibrationRecord(_Config):
    image_points: tuple[Point, ...]
    ground_points_m: tuple[Point, ...]
    rms_error_m: float = Field(ge=0)


class CrowdConfig(_Config):
    sensor: Name = "camera"
    interval_s: float = Field(default=10.0, ge=0, le=3600, description="0 = every frame")
    min_frames: int = Field(default=1, ge=1, le=30, description="seen in N frames to count")
    match_radius: float = Field(
        default=0.5, gt=0, le=5, description="feet match across frames, in box heights"
    )
    occlusion_density: float = Field(default=2.0, gt=0, description="persons/m2")
    congested_density: float = Field(
        default=CONGESTED_DENSITY, gt=0, description="persons/m2; default: walkway LOS E starts"
    )
    detector: DetectorConfig = Field(
        default_factory=lambda: YoloxOnnxConfig(model="yolox_nano_coco_416")
    )
    tiling: TilingConfig = TilingConfig()
    homography: tuple[tuple[float, float, float], ...] | None = Field(
        default=None, min_length=3, max_length=3, description="image px -> ground metres"
    )
    calibration: CalibrationRecord | None = None
    zones: tuple[ZoneConfig, ...] = Field(default=(), max_length=32)

    @model_validator(mode="after")
    def _unique_zones(self) -> CrowdConfig:
        ids = [z.id for z in self.zones]
        if len(ids) != len(set(ids)):
            raise ValueError(f"zone ids repeat: {ids}")
        return self


class CrowdConfigError(ValueError):
    """The device config's crowd section is invalid; the message names file and key."""


def crowd_config_from(raw: Any, *, source: str = "<config>") -> CrowdConfig:
    """Validate a ``vision.crowd`` mapping; raises CrowdConfigError naming the key."""
    try:
        return CrowdConfig.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(["vision", "crowd", *(str(p) for p in first["loc"])])
        raise CrowdConfigError(f"{source}: {where}: {first['msg']}") from exc


def load_crowd_config(path: Path) -> CrowdConfig:
    """The ``vision.crowd`` section of a device YAML file (defaults when absent)."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CrowdConfigError(f"{path}: cannot read: {exc}") from exc
    vision = doc.get("vision") if isinstance(doc, dict) else None
    crowd = vision.get("crowd") if isinstance(vision, dict) else None
    return crowd_config_from(crowd, source=str(path))
