"""Where frames come from: OpenCV capture, the Pi camera, or a simulated camera.

One small interface (:class:`FrameSource`) with the hardware library imported inside
``open()``, so importing this module costs nothing on a machine without a camera stack.
:class:`FramePump` adds what every live source needs: reconnect with jittered exponential
backoff when a stream drops, and a frame-rate budget so analysis never takes more than its
share of the Pi's CPU away from the rest of the agent. Frames stay in memory only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from trygg.backoff import Backoff

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]


class SourceError(RuntimeError):
    """The source cannot deliver now (device missing, stream refused); a retry may help."""


class EndOfStream(Exception):  # noqa: N818 - a signal, not a failure
    """A finite source (a video file) has no more frames."""


@dataclass(frozen=True, slots=True)
class FrameMeta:
    """What the source knows about a frame besides its pixels."""

    seq: int  # frames delivered by this source since it was opened
    stream_ts_ms: float | None = None  # the stream's own clock (PTS) when it has one
    source: str = ""


@dataclass(frozen=True, slots=True)
class Frame:
    image: Image
    meta: FrameMeta


class FrameSource(Protocol):
    name: str

    def open(self) -> None:
        """Connect; raises SourceError."""

    def read(self) -> Frame:
        """Next frame; raises SourceError (lost, retry) or EndOfStream (finished)."""

    def close(self) -> None: ...


class OpenCVSource:
    """``cv2.VideoCapture`` on an RTSP/HTTP URL, a USB camera index or a video file."""

    def __init__(self, uri: str | int, *, name: str = "camera", live: bool | None = None) -> None:
        self.name = name
        self._uri = uri
        self._live = live if live is not None else not _looks_like_file(uri)
        self._cap: Any = None
        self._seq = 0

    def open(self) -> None:
        import cv2

        cap = cv2.VideoCapture(self._uri)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.name}: cannot open {self._describe()}")
        if self._live:
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a stale queue
        self._cap = cap

    def read(self) -> Frame:
        import cv2

        if self._cap is None:
            raise SourceError(f"{self.name}: not open")
        ok, image = self._cap.read()
        if not ok or image is None:
            if not self._live:
                raise EndOfStream(self.name)
            raise SourceError(f"{self.name}: stream lost ({self._describe()})")
        self._seq += 1
        pos = float(self._cap.get(cv2.CAP_PROP_POS_MSEC))
        return Frame(
            image, FrameMeta(self._seq, pos if pos > 0 or self._seq == 1 else None, self.name)
        )

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def _describe(self) -> str:
        # Never log stream credentials (rtsp://user:pass@host).
        text = str(self._uri)
        return text.split("@", 1)[-1] if "@" in text else text


class PicameraSource:
    """The Raspberry Pi camera through Picamera2 (imported lazily; Pi only)."""

    def __init__(self, *, name: str = "picamera", size: tuple[int, int] = (640, 480)) -> None:
        self.name = name
        self._size = size
        self._cam: Any = None
        self._seq = 0

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise SourceError(f"{self.name}: picamera2 is not installed") from exc
        try:
            cam = Picamera2()
            cam.configure(
                cam.create_video_configuration(main={"size": self._size, "format": "BGR888"})
            )
            cam.start()
        except Exception as exc:
            raise SourceError(f"{self.name}: {exc}") from exc
        self._cam = cam

    def read(self) -> Frame:
        if self._cam is None:
            raise SourceError(f"{self.name}: not open")
        try:
            request = self._cam.capture_request()
            try:
                image = np.array(request.make_array("main"), dtype=np.uint8)
                ts = request.get_metadata().get("SensorTimestamp")
            finally:
                request.release()
        except Exception as exc:
            raise SourceError(f"{self.name}: {exc}") from exc
        self._seq += 1
        return Frame(image, FrameMeta(self._seq, ts / 1e6 if ts else None, self.name))

    def close(self) -> None:
        if self._cam is not None:
            self._cam.stop()
            self._cam.close()
            self._cam = None


class SimulatedSource:
    """A camera twin: a still scene plus per-frame sensor noise, as a real sensor has.

    ``fault`` (a callable image -> image) lets a test or the simulator inject a fault;
    ``freeze`` makes it repeat the last frame byte for byte, as a stuck pipeline does.
    """

    def __init__(
        self,
        scene: Image,
        *,
        name: str = "simulated",
        noise_sigma: float = 2.0,
        fps: float = 10.0,
        seed: int = 0,
    ) -> None:
        self.name = name
        self._scene = scene
        self._dt_ms = 1000.0 / fps
        self._rng = np.random.default_rng(seed)
        # A bank of noise fields drawn once: drawing ~1M normals per frame would cost more
        # than the analysis under test. Consecutive frames never reuse the same field.
        self._noise = [
            self._rng.normal(0.0, noise_sigma, scene.shape).astype(np.int16) for _ in range(6)
        ]
        self._k = 0
        self._seq = 0
        self._last: Image | None = None
        self._cache: tuple[Callable[[Image], Image] | None, Image] = (None, scene)
        self.fault: Callable[[Image], Image] | None = None
        self.freeze = False

    def open(self) -> None:
        self._seq = 0

    def read(self) -> Frame:
        self._seq += 1
        meta = FrameMeta(self._seq, self._seq * self._dt_ms, self.name)
        if self.freeze and self._last is not None:
            return Frame(self._last.copy(), meta)
        if self._cache[0] is not self.fault:
            self._cache = (self.fault, self.fault(self._scene) if self.fault else self._scene)
        self._k = (self._k + 1 + int(self._rng.integers(0, len(self._noise) - 1))) % len(
            self._noise
        )
        noisy = self._cache[1].astype(np.int16) + self._noise[self._k]
        image = np.clip(noisy, 0, 255).astype(np.uint8)
        self._last = image
        return Frame(image, meta)

    def close(self) -> None:
        self._last = None


class FrameBudget:
    """Paces analysis: at most ``max_fps``, and at most ``cpu_share`` of one core.

    After a frame took ``spent`` seconds to analyse, the next may start no sooner than
    ``max(1/max_fps, spent/cpu_share)`` after this one started.
    """

    def __init__(self, *, max_fps: float = 5.0, cpu_share: float = 0.25) -> None:
        if max_fps <= 0 or not 0 < cpu_share <= 1:
            raise ValueError("max_fps must be > 0 and cpu_share in (0, 1]")
        self._period = 1.0 / max_fps
        self._share = cpu_share

    def wait(self, *, started: float, spent: float, now: float) -> float:
        """Seconds to sleep before the next frame (monotonic times)."""
        due = started + max(self._period, spent / self._share)
        return max(0.0, due - now)


class FramePump:
    """Frames from a source with reconnect and pacing; run it in the vision thread.

    The caller analyses each yielded frame; the time until the next ``next()`` counts as
    analysis time for the budget. ``stop`` ends the loop between frames.
    """

    def __init__(
        self,
        source: FrameSource,
        *,
        budget: FrameBudget,
        stop: threading.Event,
        backoff: Backoff | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._budget = budget
        self._stop = stop
        self._backoff = backoff or Backoff(1.0, 60.0)
        self._monotonic = monotonic
        self.reconnects = 0
        self._was_connected = False

    def frames(self) -> Iterator[Frame]:
        connected = False
        try:
            while not self._stop.is_set():
                if not connected:
                    connected = self._connect()
                    continue
                started = self._monotonic()
                try:
                    frame = self._source.read()
                except EndOfStream:
                    return
                except SourceError as exc:
                    log.warning("camera %s lost: %s", self._source.name, exc)
                    self._source.close()
                    connected = False
                    continue
                self._backoff.reset()
                yield frame
                now = self._monotonic()
                self._stop.wait(self._budget.wait(started=started, spent=now - started, now=now))
        finally:
            self._source.close()

    def _connect(self) -> bool:
        try:
            self._source.open()
        except SourceError as exc:
            delay = self._backoff.next_delay()
            log.warning(
                "camera %s unavailable (%s); retry in %.1f s", self._source.name, exc, delay
            )
            self._stop.wait(delay)
            return False
        if self._was_connected:
            self.reconnects += 1
            log.info("camera %s reconnected", self._source.name)
        self._was_connected = True
        return True


def _looks_like_file(uri: str | int) -> bool:
    return isinstance(uri, str) and "://" not in uri
