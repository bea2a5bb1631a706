"""Real videos played end to end raise no event at all.

``intel_car-detection.mp4`` is an outdoor car park where many consecutive frames differ by
under half a grey level: the frozen check must see it is still alive (sensor noise changes
most pixels even then). ``intel_one-by-one-person-detection.mp4`` has people walking
through and a few duplicated frames from its encoder.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edge.vision.health import CameraHealthMonitor
from edge.vision.health_config import CameraHealthConfig, Duration
from edge.vision.sources import EndOfStream, OpenCVSource
from tests.shared_data import vision_dir
from tests.vision.test_health_faults import config

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("video", "frames"),
    [("intel_car-detection.mp4", 377), ("intel_one-by-one-person-detection.mp4", 1394)],
)
@pytest.mark.parametrize("sensitive", [True, False], ids=["test-durations", "defaults"])
def test_real_video_raises_no_event(video: str, frames: int, sensitive: bool) -> None:
    cfg = (
        config()
        if sensitive
        else CameraHealthConfig(camera="cam-1", baseline=Duration(frames=30, seconds=3.0))
    )
    monitor = CameraHealthMonitor(config=cfg)
    source = OpenCVSource(str(vision_dir() / "video" / video), name="file")
    source.open()
    events = []
    seen = 0
    run = longest_run = 0
    try:
        while True:
            try:
                frame = source.read()
            except EndOfStream:
                break
            seen += 1
            assert frame.meta.stream_ts_ms is not None
            now = T0 + timedelta(milliseconds=frame.meta.stream_ts_ms)
            _, new = monitor.observe(frame.image, now=now, meta=frame.meta)
            events.extend(new)
            run = run + 1 if monitor.verdicts.get("cameraFrozen") else 0
            longest_run = max(longest_run, run)
    finally:
        source.close()
    assert seen == frames
    assert monitor.baseline_ready()
    assert events == [], [(e.type, e.t) for e in events]
    # The encoder duplicates a frame now and then, but only in short runs, never a stall.
    assert longest_run <= 3
