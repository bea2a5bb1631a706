"""Camera-health benchmark: ``python -m bench.camera_health`` (from the project root).

Single thread (``cv2.setNumThreads(1)``), 640x480 BGR frames, the default schedule of
:class:`edge.vision.health_config.ScheduleConfig`: grey + frozen check, exposure histogram
and structure (Laplacian, Canny, contrast grid) every frame; ORB displacement every 25th
frame; graffiti (one 4 m x 2.5 m wall) every 10th frame. Times the whole
``CameraHealthMonitor.observe`` call after the baseline has been learned, so the numbers
include building readings and events. Reports the amortised ms per frame, the median and
p99, the worst single frame, and the median cost of a frame on which each costly check
ran. Frames are a real shared frame (``../shared/vision`` or $TRYGG_SHARED) with simulated
sensor noise; a synthetic scene is used when the folder is missing.

With ``--matrix`` it also runs every applied fault on every shared image (the fault starts
after a 3 s baseline, 24 s per run at 10 fps, test durations) and records which event came
first; "none" is the clean run, which must raise nothing.

Prints one summary line and writes bench/results/camera_health.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.vision import health_faults as faults
from edge.vision.health import CameraHealthMonitor
from edge.vision.health_config import (
    CameraHealthConfig,
    Duration,
    GraffitiConfig,
    WallConfig,
)
from edge.vision.sources import SimulatedSource

ROOT = Path(__file__).resolve().parent.parent
SCENE = "intel_one-by-one-person-detection_f0000.png"
T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
FPS = 10.0


def scene() -> tuple[npt.NDArray[np.uint8], str]:
    shared = Path(os.environ.get("TRYGG_SHARED", ROOT.parent / "shared"))
    path = shared / "vision" / "images" / SCENE
    image = cv2.imread(str(path)) if path.is_file() else None
    if image is None:
        rng = np.random.default_rng(0)
        base = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (0, 0), 3)
        return np.asarray(base, dtype=np.uint8), "synthetic"
    return np.asarray(
        cv2.resize(image, (640, 480), interpolation=cv2.INTER_AREA), dtype=np.uint8
    ), SCENE


def config() -> CameraHealthConfig:
    wall = WallConfig(
        name="wall-a",
        corners=((0.15, 0.03), (0.48, 0.03), (0.48, 0.5), (0.15, 0.5)),
        width_m=4.0,
        height_m=2.5,
    )
    return CameraHealthConfig(camera="bench", graffiti=GraffitiConfig(walls=(wall,)))


def run(frames: int) -> dict[str, Any]:
    cv2.setNumThreads(1)
    image, source_name = scene()
    cfg = config()
    monitor = CameraHealthMonitor(config=cfg)
    source = SimulatedSource(image, fps=FPS, seed=1)
    source.open()
    # Pre-draw frames so the noise generator is not timed.
    pool = [source.read() for _ in range(12)]
    warm = cfg.baseline.frames + int(cfg.baseline.seconds * FPS) + 10
    i = 0
    for i in range(warm):
        f = pool[i % len(pool)]
        monitor.observe(f.image, now=T0 + timedelta(seconds=i / FPS), meta=f.meta)
    assert monitor.baseline_ready(), "baseline not learned during warm-up"
    times: list[float] = []
    for k in range(frames):
        f = pool[k % len(pool)]
        now = T0 + timedelta(seconds=(warm + k) / FPS)
        start = time.perf_counter()
        monitor.observe(f.image, now=now, meta=f.meta)
        times.append((time.perf_counter() - start) * 1000.0)
    s = cfg.schedule
    # Frame numbers inside the monitor continue from the warm-up.
    numbers = [warm + 1 + k for k in range(frames)]
    orb = [t for n, t in zip(numbers, times, strict=True) if n % s.displacement_every == 0]
    walls = [t for n, t in zip(numbers, times, strict=True) if n % s.graffiti_every == 0]
    plain = [
        t
        for n, t in zip(numbers, times, strict=True)
        if n % s.displacement_every and n % s.graffiti_every
    ]
    ordered = sorted(times)
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpu".strip(),
        "opencv": cv2.__version__,
        "threads": cv2.getNumThreads(),
        "frame": "640x480 BGR",
        "scene": source_name,
        "frames_timed": frames,
        "schedule": {
            "every_frame": [
                "grey+frozen",
                "exposure histogram",
                "structure (laplacian, canny, grid)",
            ],
            "displacement_every": s.displacement_every,
            "graffiti_every": s.graffiti_every,
            "graffiti_walls": len(cfg.graffiti.walls) if cfg.graffiti else 0,
        },
        "ms_amortised": round(statistics.fmean(times), 3),
        "ms_median": round(statistics.median(times), 3),
        "ms_p99": round(ordered[int(0.99 * (len(ordered) - 1))], 3),
        "ms_worst": round(ordered[-1], 3),
        "ms_median_plain_frame": round(statistics.median(plain), 3),
        "ms_median_with_orb": round(statistics.median(orb), 3) if orb else None,
        "ms_median_with_graffiti": round(statistics.median(walls), 3) if walls else None,
        "target_ms_amortised": 5.0,
    }


FAULTS: dict[str, tuple[faults.Transform | None, str | None]] = {
    "none": (None, None),
    "blur": (faults.blur, "cameraBlurred"),
    "cover": (faults.cover, "cameraCovered"),
    "spray": (faults.spray, "cameraCovered"),
    "dark": (faults.darken, "cameraDark"),
    "overexposed": (faults.overexpose, "cameraOverexposed"),
    "shift": (faults.shift, "cameraDisplaced"),
    "rotation": (faults.rotate, "cameraDisplaced"),
    "repeated-frame": (None, "cameraFrozen"),
}


def matrix() -> dict[str, Any]:
    """First event per (image, fault) and how many were the expected type."""
    shared = Path(os.environ.get("TRYGG_SHARED", ROOT.parent / "shared")) / "vision" / "images"
    cfg = CameraHealthConfig(
        camera="bench",
        baseline=Duration(frames=30, seconds=3.0),
        set_after=Duration(frames=5, seconds=2.0),
        frozen_after=Duration(frames=20, seconds=3.0),
    )
    rows: dict[str, dict[str, str | None]] = {}
    right = raised = runs = 0
    for path in sorted(shared.glob("*.*")):
        image = cv2.imread(str(path))
        if image is None:
            continue
        frame = np.asarray(cv2.resize(image, (640, 480), interpolation=cv2.INTER_AREA), np.uint8)
        row: dict[str, str | None] = {}
        for name, (transform, expected) in FAULTS.items():
            monitor = CameraHealthMonitor(config=cfg)
            source = SimulatedSource(frame, fps=FPS, seed=3)
            first: str | None = None
            for i in range(240):
                if i == 60:
                    source.fault = transform
                    source.freeze = name == "repeated-frame"
                f = source.read()
                now = T0 + timedelta(seconds=i / FPS)
                _, events = monitor.observe(f.image, now=now, meta=f.meta)
                first = first or next((e.type for e in events if e.active), None)
            row[name] = first
            runs += 1
            right += first == expected
            raised += (first is not None) == (expected is not None)
        rows[path.name] = row
    return {"runs": runs, "first_event_right": right, "fault_or_quiet_right": raised, "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--matrix", action="store_true", help="also the fault detection matrix")
    args = parser.parse_args()
    result = run(args.frames)
    if args.matrix:
        result["detection"] = matrix()
    out = ROOT / "bench" / "results" / "camera_health.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"camera_health: {result['ms_amortised']:.2f} ms/frame amortised (640x480, 1 thread; "
        f"ORB every {result['schedule']['displacement_every']}, graffiti every "
        f"{result['schedule']['graffiti_every']}), median {result['ms_median']:.2f}, "
        f"p99 {result['ms_p99']:.2f}, worst {result['ms_worst']:.2f} ms "
        f"(target <= 5 ms amortised)"
        + (
            f"; faults {result['detection']['first_event_right']}/{result['detection']['runs']}"
            " first event right"
            if args.matrix
            else ""
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
