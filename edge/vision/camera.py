"""One camera on the pole: frames in, numbers out.

A :class:`CameraLoop` owns a frame source, the camera-health monitor and the crowd counter of
one camera. Frames are read and analysed in one worker thread (OpenCV and ONNX Runtime
block), paced by a frame-rate budget; each frame is dropped as soon as it has been analysed.
Only contract readings and events cross back into the agent's event loop — no image, box,
crop or embedding can, because the analysis functions return nothing else.

OpenCV and ONNX Runtime are imported only when a camera is configured.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field

from edge.vision.crowd_config import CrowdConfig
from edge.vision.health_config import CameraHealthConfig
from trygg.clock import Clock
from trygg.contract import EventItem, Reading

if TYPE_CHECKING:
    from edge.vision.crowd import CrowdCounter
    from edge.vision.health import CameraHealthMonitor
    from edge.vision.sources import Frame, FrameSource

log = logging.getLogger(__name__)

ReadingsSink = Callable[[list[Reading]], Awaitable[None]]
EventsSink = Callable[[list[EventItem]], Awaitable[None]]


class CameraConfig(BaseModel):
    """A camera of the pole (the ``cameras:`` list of the device file)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    asset: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    source: str = Field(
        default="picamera", description="'picamera', 'usb:N', an RTSP/HTTP URL or a video file"
    )
    max_fps: float = Field(default=2.0, gt=0, le=30)
    cpu_share: float = Field(default=0.25, gt=0, le=1)
    health: CameraHealthConfig | None = None
    crowd: CrowdConfig | None = None
    manifest: Path | None = Field(default=None, description="model manifest (crowd only)")


def open_source(config: CameraConfig) -> FrameSource:
    """The frame source named by ``config.source`` (hardware libraries load in ``open``)."""
    from edge.vision.sources import OpenCVSource, PicameraSource

    if config.source == "picamera":
        return PicameraSource(name=config.asset)
    uri: str | int = int(config.source[4:]) if config.source.startswith("usb:") else config.source
    return OpenCVSource(uri, name=config.asset)


class CameraLoop:
    """Analyses one camera's frames in a worker thread and emits numbers only."""

    def __init__(
        self,
        *,
        config: CameraConfig,
        clock: Clock,
        source: FrameSource | None = None,
        health: CameraHealthMonitor | None = None,
        crowd: CrowdCounter | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.source = source if source is not None else open_source(config)
        self.health = health if health is not None else self._build_health()
        self.crowd = crowd if crowd is not None else self._build_crowd()
        self.frames = 0
        self._lock = threading.Lock()

    def _build_health(self) -> CameraHealthMonitor | None:
        if self.config.health is None:
            return None
        from edge.vision.health import CameraHealthMonitor

        return CameraHealthMonitor(config=self.config.health)

    def _build_crowd(self) -> CrowdCounter | None:
        if self.config.crowd is None:
            return None
        from edge.vision.crowd import CrowdCounter
        from edge.vision.detector import build_detector
        from edge.vision.manifest import DEFAULT_MANIFEST, load_manifest

        manifest = load_manifest(self.config.manifest or DEFAULT_MANIFEST)
        detector = build_detector(self.config.crowd.detector, manifest)
        return CrowdCounter(detector=detector, config=self.config.crowd)

    def analyse(self, frame: Frame) -> tuple[list[Reading], list[EventItem]]:
        """Numbers from one frame; the frame is not kept."""
        now = self.clock.now()
        readings: list[Reading] = []
        events: list[EventItem] = []
        with self._lock:
            self.frames += 1
            if self.crowd is not None:
                readings += self.crowd.observe(frame.image, now)
            if self.health is not None:
                r, e = self.health.observe(frame.image, now=now, meta=frame.meta)
                readings += r
                events += e
        return readings, events

    @property
    def asset(self) -> str:
        return self.config.asset

    def acknowledge(self, event_type: str | None, *, now: datetime) -> list[EventItem]:
        """The hub's ``ack_tamper``: latched events whose condition has gone are cleared."""
        if self.health is None:
            return []
        with self._lock:
            return self.health.acknowledge(event_type, now=now)

    async def run(self, stop: asyncio.Event, *, readings: ReadingsSink, events: EventsSink) -> None:
        """Until ``stop``: frames are analysed off the loop, results handed to the sinks."""
        from edge.vision.sources import FrameBudget, FramePump

        loop = asyncio.get_running_loop()
        out: asyncio.Queue[tuple[list[Reading], list[EventItem]] | None] = asyncio.Queue(64)
        halt = threading.Event()
        pump = FramePump(
            self.source,
            stop=halt,
            budget=FrameBudget(max_fps=self.config.max_fps, cpu_share=self.config.cpu_share),
        )

        def worker() -> None:
            try:
                for frame in pump.frames():
                    result = self.analyse(frame)
                    del frame
                    if result[0] or result[1]:
                        asyncio.run_coroutine_threadsafe(out.put(result), loop).result()
            finally:
                asyncio.run_coroutine_threadsafe(out.put(None), loop)

        async def relay() -> None:
            while (item := await out.get()) is not None:
                if item[0]:
                    await readings(item[0])
                if item[1]:
                    await events(item[1])

        async def halt_on_stop() -> None:
            await stop.wait()
            halt.set()

        async with asyncio.TaskGroup() as tg:
            tg.create_task(asyncio.to_thread(worker), name=f"{self.config.asset}-frames")
            relayer = tg.create_task(relay(), name=f"{self.config.asset}-relay")
            watcher = tg.create_task(halt_on_stop(), name=f"{self.config.asset}-stop")
            await relayer
            watcher.cancel()
        log.info("camera %s stopped after %d frames", self.config.asset, self.frames)
