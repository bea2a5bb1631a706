"""``trygg vision health IMAGE --reference REF``: one picture judged against a good one.

For people setting up a pole: the reference stands in for the learned baseline (the
camera's normal view), IMAGE is what the camera shows now. Prints one JSON object with the
health scores, each check's verdict (true = fault, false = fine, null = cannot tell) and
the overall health score. Exit status 0 when no fault shows, 1 when one does, 2 when an
image cannot be read. A single still cannot show a frozen stream or a minimum duration;
those need the running agent.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import UTC, datetime
from typing import Any

from edge.vision.health_config import CameraHealthConfig, Duration, ScheduleConfig
from trygg.cli import Subcommands


def assess(
    image: Any, reference: Any, *, config: CameraHealthConfig, profile: str = "day"
) -> dict[str, Any]:
    """Scores and verdicts of ``image`` with ``reference`` as the whole baseline."""
    from edge.vision.health import CameraHealthMonitor
    from edge.vision.health_state import conditions, health_score

    cfg = config.model_copy(
        update={
            "baseline": Duration(frames=1, seconds=0.0),
            "schedule": ScheduleConfig(displacement_every=1),
        }
    )
    monitor = CameraHealthMonitor(config=cfg)
    now = datetime.now(UTC)
    monitor.measure(reference, now=now)
    # Two different stills say nothing about a stalled stream.
    scores = dataclasses.replace(monitor.measure(image, now=now), changed_fraction=None)
    p = cfg.night if profile == "night" else cfg.day
    verdicts = conditions(scores, p, cfg.frozen_changed_fraction)
    return {
        "profile": profile,
        "healthScore": round(health_score(scores, verdicts, p), 4),
        "faults": sorted(k for k, v in verdicts.items() if v),
        "verdicts": verdicts,
        "scores": {
            k: (round(v, 4) if isinstance(v, float) else v)
            for k, v in dataclasses.asdict(scores).items()
            if v is not None and k != "changed_fraction"
        },
    }


def _health(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    frames = {}
    for path in (args.image, args.reference):
        frame = cv2.imread(path, cv2.IMREAD_COLOR)
        if frame is None:
            sys.stderr.write(f"trygg vision health: cannot read image {path}\n")
            return 2
        frames[path] = np.asarray(frame, dtype=np.uint8)
    image, reference = frames[args.image], frames[args.reference]
    if image.shape != reference.shape:
        h, w = reference.shape[:2]
        image = np.asarray(cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA), np.uint8)
    config = CameraHealthConfig(camera="setup")
    result = assess(image, reference, config=config, profile=args.profile)
    result = {"image": args.image, "reference": args.reference, **result}
    sys.stdout.write(json.dumps(result, indent=2 if args.pretty else None) + "\n")
    return 1 if result["faults"] else 0


def add_parser(sub: Subcommands) -> None:
    """Add ``health`` to the ``trygg vision`` subcommands."""
    p = sub.add_parser(
        "health",
        help="camera health of IMAGE against a known-good REFERENCE (JSON, numbers only)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("image", metavar="IMAGE", help="what the camera shows now")
    p.add_argument("--reference", required=True, metavar="REF", help="the camera's good view")
    p.add_argument("--profile", choices=("day", "night"), default="day")
    p.add_argument("--pretty", action="store_true", help="indent the JSON")
    p.set_defaults(func=_health)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m edge.vision.health_cli``) until ``trygg vision`` has it."""
    parser = argparse.ArgumentParser(prog="trygg vision")
    add_parser(parser.add_subparsers(dest="vision_command", required=True))
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
