"""``trygg vision health IMAGE --reference REF`` prints scores and verdicts as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.vision import health_cli
from edge.vision import health_faults as faults
from tests.shared_data import vision_dir


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    status = health_cli.main(["health", *argv])
    out, err = capsys.readouterr()
    return status, json.loads(out) if out else {}, err


def test_add_parser_wires_a_health_subcommand() -> None:
    parser = argparse.ArgumentParser()
    health_cli.add_parser(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(["health", "a.png", "--reference", "b.png"])
    assert callable(args.func)
    assert args.reference == "b.png"


def test_good_image_is_healthy(capsys: pytest.CaptureFixture[str]) -> None:
    ref = str(vision_dir() / "images" / "darknet_dog.jpg")
    status, result, _ = run(capsys, ref, "--reference", ref)
    assert status == 0
    assert result["faults"] == []
    assert result["healthScore"] == pytest.approx(1.0)
    assert set(result["verdicts"]) == {
        "cameraBlurred",
        "cameraCovered",
        "cameraDisplaced",
        "cameraFrozen",
        "cameraDark",
        "cameraOverexposed",
    }


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (faults.blur, "cameraBlurred"),
        (faults.rotate, "cameraDisplaced"),
        (faults.cover, "cameraCovered"),
    ],
)
def test_faulty_image_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fault: faults.Transform, expected: str
) -> None:
    ref = vision_dir() / "images" / "darknet_dog.jpg"
    bad = tmp_path / "now.png"
    image = np.asarray(cv2.imread(str(ref)), dtype=np.uint8)
    assert cv2.imwrite(str(bad), fault(image))  # the test's own fixture, not the health path
    status, result, _ = run(capsys, str(bad), "--reference", str(ref))
    assert status == 1
    assert result["faults"] == [expected]


def test_unreadable_image_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, str(tmp_path / "missing.png"), "--reference", str(tmp_path / "x"))
    assert status == 2
    assert "cannot read" in err
