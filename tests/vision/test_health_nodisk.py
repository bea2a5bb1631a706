"""The health and graffiti path keeps frames in memory: no image file is ever written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.vision import health_faults as faults
from edge.vision.health import CameraHealthMonitor
from edge.vision.health_config import (
    CameraHealthConfig,
    Duration,
    GraffitiConfig,
    ScheduleConfig,
    WallConfig,
)
from edge.vision.sources import OpenCVSource, SimulatedSource
from tests.shared_data import vision_dir

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def _forbidden(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError("an image was about to be written")


def test_health_path_writes_no_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("imwrite", "imencode", "imwritemulti", "VideoWriter"):
        monkeypatch.setattr(cv2, name, _forbidden, raising=False)
    monkeypatch.setattr(np, "save", _forbidden)
    monkeypatch.setattr(np, "savez", _forbidden)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    before = set(tmp_path.iterdir())

    wall = WallConfig(
        name="w", corners=((0.1, 0.1), (0.5, 0.1), (0.5, 0.5), (0.1, 0.5)), width_m=2, height_m=2
    )
    cfg = CameraHealthConfig(
        camera="cam-1",
        baseline=Duration(frames=20, seconds=2),
        set_after=Duration(frames=3, seconds=1),
        schedule=ScheduleConfig(displacement_every=5, graffiti_every=2),
        graffiti=GraffitiConfig(walls=(wall,), reference=Duration(frames=3, seconds=0)),
    )
    monitor = CameraHealthMonitor(config=cfg)
    video = OpenCVSource(str(vision_dir() / "video" / "intel_car-detection.mp4"))
    video.open()
    frame = video.read()
    video.close()
    sim = SimulatedSource(frame.image, seed=2)
    sim.open()
    events = []
    for i in range(120):
        sim.fault = faults.cover if i >= 60 else None
        f = sim.read()
        events += monitor.observe(f.image, now=T0 + timedelta(seconds=i / 10), meta=f.meta)[1]
    assert any(e.type == "cameraCovered" for e in events)
    assert set(tmp_path.iterdir()) == before
