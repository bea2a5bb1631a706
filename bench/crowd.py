"""Crowd pipeline benchmark: ``python -m bench.crowd`` (from the project root).

Single thread (ONNX Runtime intra-op 1, OpenCV 1 thread), on this machine. For both shared
models it measures:

- ms per 1080p frame for the whole pipeline (``CrowdCounter.observe``: tiles, inference,
  merge, zones, readings) with and without tiling (median of repeated runs);
- process RSS with the model loaded and after a tiled frame (fresh interpreter per model);
- mosaic count error (3x3 and 4x4 grids of the shared counted images on 1080p frames,
  seeds different from the tests), with and without tiling.

Prints one summary line and writes bench/results/crowd.json. Needs ../shared/vision (or
$TRYGG_SHARED/vision).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.vision.crowd import CrowdCounter, count_people
from edge.vision.crowd_config import CrowdConfig, TilingConfig
from edge.vision.crowd_mosaic import load_counted, mosaics
from edge.vision.detector import PersonDetector, YoloxOnnxConfig, build_detector
from edge.vision.manifest import load_manifest

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("yolox_nano_coco_416", "person_detector_192")

_RSS_PROBE = """
import json, sys
import numpy as np
from pathlib import Path
def rss():
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith(('VmRSS', 'VmHWM')):
            yield line.split(':')[0], int(line.split()[1]) / 1024
from edge.vision.crowd import count_people
from edge.vision.crowd_config import TilingConfig
from edge.vision.detector import YoloxOnnxConfig, build_detector
from edge.vision.manifest import load_manifest
det = build_detector(YoloxOnnxConfig(model=sys.argv[1], model_dir=Path(sys.argv[2])),
                     load_manifest())
loaded = dict(rss())
frame = np.random.default_rng(0).integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
count_people(det, frame, TilingConfig())
after = dict(rss())
print(json.dumps({"loaded_rss_mb": loaded["VmRSS"], "after_frame_rss_mb": after["VmRSS"],
                  "peak_rss_mb": after["VmHWM"]}))
"""


def _vision_dir() -> Path:
    return Path(os.environ.get("TRYGG_SHARED", ROOT.parent / "shared")).resolve() / "vision"


def _detector(model: str, vision: Path) -> PersonDetector:
    cfg = YoloxOnnxConfig(model=model, model_dir=vision / "models", threads=1)
    return build_detector(cfg, load_manifest())


def _ms_per_frame(det: PersonDetector, frame: np.ndarray, *, tiling: bool, runs: int) -> float:
    counter = CrowdCounter(
        detector=det, config=CrowdConfig(interval_s=0, tiling=TilingConfig(enabled=tiling))
    )
    t0 = datetime(2026, 6, 6, tzinfo=UTC)
    counter.observe(frame, t0)
    times = []
    for i in range(runs):
        start = time.perf_counter()
        counter.observe(frame, t0 + timedelta(seconds=i + 1))
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _rss(model: str, vision: Path) -> dict[str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, model, str(vision / "models")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.crowd")
    parser.add_argument("--mosaics", type=int, default=10, help="mosaics per grid size")
    parser.add_argument("--runs", type=int, default=10, help="timed frames per setting")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "crowd.json"))
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    vision = _vision_dir()
    counted = load_counted(vision / "images")
    grids = {
        "3x3": mosaics(counted, n=3, how_many=args.mosaics, seed=101),
        "4x4": mosaics(counted, n=4, how_many=args.mosaics, seed=102),
    }
    frame_1080p = grids["4x4"][0][0]
    results: dict[str, Any] = {
        "machine": f"{os.cpu_count()} vCPU, single thread (ORT intra-op 1, OpenCV 1)",
        "frame": "1920x1080 (a 4x4 mosaic of real photos)",
        "tiling": TilingConfig().model_dump(),
        "mosaics": {
            g: {"frames": len(f), "mean_people": statistics.mean(n for _, n in f)}
            for g, f in grids.items()
        },
        "models": {},
    }
    for model in MODELS:
        det = _detector(model, vision)
        entry: dict[str, Any] = {}
        for tiling in (True, False):
            key = "tiled" if tiling else "single"
            runs = args.runs if tiling else args.runs * 3
            entry[f"ms_per_1080p_{key}"] = round(
                _ms_per_frame(det, frame_1080p, tiling=tiling, runs=runs), 1
            )
            cfg = TilingConfig(enabled=tiling)
            errors: dict[str, list[int]] = {
                g: [count_people(det, f, cfg) - n for f, n in frames] for g, frames in grids.items()
            }
            every = [e for errs in errors.values() for e in errs]
            entry[f"mae_{key}"] = round(float(np.mean(np.abs(every))), 2)
            entry[f"bias_{key}"] = round(float(np.mean(every)), 2)
            for g, errs in errors.items():
                entry[f"mae_{key}_{g}"] = round(float(np.mean(np.abs(errs))), 2)
        entry.update({k: round(v, 1) for k, v in _rss(model, vision).items()})
        results["models"][model] = entry
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    parts = [
        f"{m}: {e['ms_per_1080p_tiled']:.0f}/{e['ms_per_1080p_single']:.0f} ms tiled/single, "
        f"mosaic MAE {e['mae_tiled']:.2f}/{e['mae_single']:.2f}, "
        f"RSS {e['after_frame_rss_mb']:.0f} MB"
        for m, e in results["models"].items()
    ]
    print("crowd (1080p, 1 thread): " + "; ".join(parts) + f" -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
