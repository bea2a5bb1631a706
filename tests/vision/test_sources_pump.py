"""Frame sources: simulated twin, video file, reconnect with backoff, frame-rate budget."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest

from edge.vision.sources import (
    EndOfStream,
    Frame,
    FrameBudget,
    FrameMeta,
    FramePump,
    OpenCVSource,
    SimulatedSource,
    SourceError,
)
from tests.shared_data import vision_dir
from trygg.backoff import Backoff

SCENE = np.full((48, 64, 3), 100, dtype=np.uint8)


def test_simulated_source_has_sensor_noise_and_can_freeze() -> None:
    src = SimulatedSource(SCENE, seed=1)
    src.open()
    a, b = src.read(), src.read()
    assert not np.array_equal(a.image, b.image)  # a live sensor never repeats exactly
    assert b.meta.seq == 2
    assert b.meta.stream_ts_ms is not None
    src.freeze = True
    c, d = src.read(), src.read()
    assert np.array_equal(b.image, c.image)
    assert np.array_equal(c.image, d.image)


def test_video_file_source_reads_to_the_end() -> None:
    src = OpenCVSource(str(vision_dir() / "video" / "intel_car-detection.mp4"))
    src.open()
    n = 0
    last = -1.0
    while True:
        try:
            frame = src.read()
        except EndOfStream:
            break
        n += 1
        assert frame.meta.stream_ts_ms is not None
        assert frame.meta.stream_ts_ms > last
        last = frame.meta.stream_ts_ms
    src.close()
    assert n == 377


def test_missing_stream_is_a_source_error_without_credentials_in_it() -> None:
    src = OpenCVSource("rtsp://user:secret@127.0.0.1:1/none", live=True)
    with pytest.raises(SourceError) as info:
        src.open()
    assert "secret" not in str(info.value)


def test_backoff_grows_with_jitter_and_caps() -> None:
    b = Backoff(1.0, 8.0, rng=random.Random(3))
    delays = [b.next_delay() for _ in range(6)]
    assert all(0.5 * min(8, 2**i) <= d <= min(8, 2**i) for i, d in enumerate(delays))
    b.reset()
    assert b.next_delay() <= 1.0


def test_budget_limits_rate_and_cpu_share() -> None:
    budget = FrameBudget(max_fps=5, cpu_share=0.25)
    assert budget.wait(started=0.0, spent=0.01, now=0.01) == pytest.approx(0.19)
    # A slow frame (0.1 s) must leave the CPU alone for 0.3 s more.
    assert budget.wait(started=0.0, spent=0.1, now=0.1) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="cpu_share"):
        FrameBudget(cpu_share=0)


class Flaky:
    """Fails to open once, delivers two frames, loses the stream, delivers one, ends."""

    name = "flaky"

    def __init__(self) -> None:
        self.script = ["open-fail", "ok", "ok", "lost", "ok", "end"]
        self.opens = 0

    def open(self) -> None:
        self.opens += 1
        if self.script[0] == "open-fail":
            self.script.pop(0)
            raise SourceError("refused")

    def read(self) -> Frame:
        step = self.script.pop(0)
        if step == "lost":
            raise SourceError("lost")
        if step == "end":
            raise EndOfStream
        return Frame(SCENE, FrameMeta(seq=1))

    def close(self) -> None:
        pass


class NoWait(threading.Event):
    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        return self.is_set()


def test_pump_reconnects_and_paces() -> None:
    src = Flaky()
    stop = NoWait()
    clock = iter(float(i) * 0.01 for i in range(1000))
    pump = FramePump(
        src,
        budget=FrameBudget(max_fps=10, cpu_share=0.5),
        stop=stop,
        backoff=Backoff(1.0, 60.0, rng=random.Random(0)),
        monotonic=lambda: next(clock),
    )
    got = list(pump.frames())
    assert len(got) == 3
    assert src.opens == 3
    assert pump.reconnects == 1
    assert stop.waits[0] >= 0.5  # backoff after the refused open
    assert any(0 < w <= 0.1 for w in stop.waits)  # pacing between frames


def test_pump_stops_between_frames() -> None:
    stop = threading.Event()
    pump = FramePump(SimulatedSource(SCENE), budget=FrameBudget(max_fps=1000), stop=stop)
    for n, _ in enumerate(pump.frames(), start=1):
        if n == 3:
            stop.set()
    assert n == 3
