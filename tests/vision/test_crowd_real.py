"""The deployed crowd pipeline with the real ONNX models on real images and mosaics."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from edge.vision.crowd import CrowdCounter, count_people
from edge.vision.crowd_config import CrowdConfig, TilingConfig, ZoneConfig
from edge.vision.crowd_mosaic import Counted, load_counted, mosaics
from edge.vision.detector import PersonDetector, YoloxOnnxConfig, build_detector
from edge.vision.manifest import load_manifest
from tests.shared_data import PROJECT_ROOT, vision_dir

NANO, SMALL = "yolox_nano_coco_416", "person_detector_192"


@cache
def _detector(model: str) -> PersonDetector:
    cfg = YoloxOnnxConfig(model=model, model_dir=vision_dir() / "models")
    return build_detector(cfg, load_manifest())


@cache
def _counted() -> list[Counted]:
    return load_counted(vision_dir() / "images")


@cache
def _mosaic_set() -> list[tuple[np.ndarray, int]]:
    parts = _counted()
    return mosaics(parts, n=3, how_many=4, seed=11) + mosaics(parts, n=4, how_many=4, seed=12)


def _mae(model: str, frames: list[tuple[np.ndarray, int]], *, tiling: bool) -> float:
    det = _detector(model)
    cfg = TilingConfig(enabled=tiling)
    return float(np.mean([abs(count_people(det, f, cfg) - n) for f, n in frames]))


def test_mosaics_hold_crowds_of_the_expected_size() -> None:
    totals = [n for _, n in _mosaic_set()]
    assert min(totals) >= 10
    assert max(totals) >= 30


def test_tiling_recovers_small_people_in_mosaics_yolox_nano() -> None:
    frames = _mosaic_set()
    tiled = _mae(NANO, frames, tiling=True)
    single = _mae(NANO, frames, tiling=False)
    assert single > 10  # single pass collapses on many small people
    assert tiled <= 2.5
    assert tiled * 4 < single


def test_tiling_helps_the_small_model_too() -> None:
    frames = _mosaic_set()
    assert _mae(SMALL, frames, tiling=True) * 2 < _mae(SMALL, frames, tiling=False)


@pytest.mark.parametrize("model", [NANO, SMALL])
def test_tiling_does_not_hurt_ordinary_images(model: str) -> None:
    det = _detector(model)
    errors = [
        abs(count_people(det, c.image, TilingConfig(enabled=True)) - c.count) for c in _counted()
    ]
    assert float(np.mean(errors)) <= 0.75
    empty = [c for c in _counted() if c.count == 0]
    assert all(count_people(det, c.image, TilingConfig()) == 0 for c in empty)


def test_counter_on_a_real_crowd_frame_gives_density_and_levels() -> None:
    frame, truth = _mosaic_set()[-1]
    cfg = CrowdConfig(
        sensor="cam-1",
        interval_s=0,
        zones=(
            ZoneConfig(
                id="square", polygon=((0, 0), (1920, 0), (1920, 1080), (0, 1080)), area_m2=20.0
            ),
        ),
    )
    counter = CrowdCounter(detector=_detector(NANO), config=cfg)
    out = {r.field: r for r in counter.observe(frame, datetime(2026, 6, 6, tzinfo=UTC))}
    count = out["peopleCount"].v
    assert isinstance(count, int)
    assert abs(count - truth) <= 4
    assert out["peopleDensity"].v == pytest.approx(count / 20.0, abs=1e-3)
    assert out["occlusionLimited"].v is (count / 20.0 > 2.0)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.vision.crowd_cli", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_count_prints_json_counts() -> None:
    images = vision_dir() / "images"
    a, b = images / "darknet_person.jpg", images / "coco_val2017_000000008211.jpg"
    res = _cli("count", str(a), str(b), "--model", str(vision_dir() / "models" / f"{NANO}.onnx"))
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc == {"model": NANO, "tiling": True, "counts": {str(a): 1, str(b): 2}}


def test_cli_count_refuses_a_tampered_model(tmp_path: Path) -> None:
    bad = tmp_path / f"{SMALL}.onnx"
    shutil.copyfile(vision_dir() / "models" / bad.name, bad)
    with bad.open("ab") as fh:
        fh.write(b"\0")
    res = _cli("count", str(vision_dir() / "images" / "darknet_person.jpg"), "--model", str(bad))
    assert res.returncode == 2
    assert "differs from the manifest" in res.stderr
    assert res.stdout == ""


def test_cli_calibrate_writes_the_device_config(tmp_path: Path) -> None:
    cfg = tmp_path / "pole.yaml"
    points = ["0,1080,0,0", "1920,1080,10,0", "1500,500,10,20", "420,500,0,20"]
    res = _cli("calibrate", "--config", str(cfg), *(f"--point={p}" for p in points))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["rms_error_m"] < 1e-3
    assert "homography" in cfg.read_text()
    res = _cli("calibrate", "--config", str(cfg), "--point=0,0,0,0")
    assert res.returncode == 2
    assert "at least 4" in res.stderr
