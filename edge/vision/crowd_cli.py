"""``trygg vision count`` and ``trygg vision calibrate``.

``count`` runs the agent's crowd pipeline exactly as deployed (manifest hash check, the
default detector and tiling settings, tiling on unless ``--no-tiling``) and prints
``{"model": ..., "tiling": ..., "counts": {IMAGE: n, ...}}``; unreadable images get
``null`` and exit status 1. ``calibrate`` fits the ground homography from four or more
``--point PX,PY,GX,GY`` pairs (image pixels, ground metres) and writes it into the device
config YAML under ``vision.crowd``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.vision.manifest import DEFAULT_MANIFEST, ManifestError, ModelRefusedError, load_manifest
from trygg.cli import Subcommands


def _count(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from edge.vision.crowd import count_people
    from edge.vision.crowd_config import TilingConfig
    from edge.vision.detector import YoloxOnnxConfig, build_detector
    from edge.vision.detector_onnx import DetectorError

    model = Path(args.model)
    try:
        manifest = load_manifest(Path(args.manifest))
        name, _entry = manifest.entry_for_file(model)
        config = YoloxOnnxConfig(model=name, model_dir=model.parent, threads=args.threads)
        detector = build_detector(config, manifest)
    except (ManifestError, ModelRefusedError, DetectorError) as exc:
        sys.stderr.write(f"trygg vision count: {exc}\n")
        return 2
    tiling = TilingConfig(enabled=not args.no_tiling)
    counts: dict[str, int | None] = {}
    status = 0
    for image in args.images:
        frame = cv2.imread(image, cv2.IMREAD_COLOR)
        if frame is None:
            sys.stderr.write(f"trygg vision count: cannot read image {image}\n")
            counts[image] = None
            status = 1
            continue
        counts[image] = count_people(detector, np.asarray(frame, dtype=np.uint8), tiling)
        del frame
    sys.stdout.write(json.dumps({"model": name, "tiling": tiling.enabled, "counts": counts}) + "\n")
    return status


def _parse_point(text: str) -> tuple[tuple[float, float], tuple[float, float]]:
    try:
        px, py, gx, gy = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected PX,PY,GX,GY (pixels, metres), got {text!r}"
        ) from None
    return (px, py), (gx, gy)


def _calibrate(args: argparse.Namespace) -> int:
    from edge.vision.zones_calibration import (
        CalibrationError,
        calibrate,
        save_to_device_config,
    )

    image_points = [p[0] for p in args.point]
    ground_points = [p[1] for p in args.point]
    try:
        result = calibrate(image_points, ground_points)
        if not args.dry_run:
            save_to_device_config(
                Path(args.config), result, image_points=image_points, ground_points=ground_points
            )
    except (CalibrationError, OSError) as exc:
        sys.stderr.write(f"trygg vision calibrate: {exc}\n")
        return 2
    summary = {
        "config": args.config,
        "saved": not args.dry_run,
        "homography": result.homography.tolist(),
        "rms_error_m": round(result.rms_error_m, 4),
    }
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


def add_parser(sub: Subcommands) -> None:
    """Add ``count`` and ``calibrate`` to the ``trygg vision`` subcommands."""
    count = sub.add_parser("count", help="count people in images with the deployed pipeline")
    count.add_argument("images", nargs="+", metavar="IMAGE")
    count.add_argument("--model", required=True, help="ONNX file listed in the manifest")
    count.add_argument("--manifest", default=str(DEFAULT_MANIFEST), help="models.yaml")
    count.add_argument("--no-tiling", action="store_true", help="single full-frame pass")
    count.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    count.set_defaults(func=_count)

    cal = sub.add_parser("calibrate", help="fit the ground homography into a device config")
    cal.add_argument("--config", required=True, help="device config YAML to update")
    cal.add_argument(
        "--point",
        action="append",
        type=_parse_point,
        required=True,
        metavar="PX,PY,GX,GY",
        help="image pixel and ground position in metres; give 4 or more",
    )
    cal.add_argument("--dry-run", action="store_true", help="print, do not write")
    cal.set_defaults(func=_calibrate)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m edge.vision.crowd_cli count ...``) until wired in."""
    parser = argparse.ArgumentParser(prog="trygg vision")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
