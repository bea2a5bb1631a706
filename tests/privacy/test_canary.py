"""No image leaves a pole: a canary painted into every frame appears nowhere outside.

The agent runs on the real broker with a camera whose frames carry a random canary pattern;
the camera-health monitor and the crowd counter (real YOLOX-Nano) analyse them. A subscriber
on ``#`` records every payload. The canary's bytes — raw, base64 and hex — must appear in no
payload and in no file under the agent's state folder (outbox included) or the temporary
directory, and every payload stays within a small size bound.
"""

from __future__ import annotations

import asyncio
import base64
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.vision.camera import CameraConfig, CameraLoop
from edge.vision.crowd_config import CrowdConfig
from edge.vision.detector import YoloxOnnxConfig
from edge.vision.health_config import CameraHealthConfig
from edge.vision.sources import Frame, FrameMeta
from tests.helpers import build_hub, hub_settings, lamp_device, make_agent, running, wait_for
from tests.shared_data import vision_dir
from trygg.clock import ScaledClock
from trygg.mqtt import Connection, MqttSettings
from trygg.stack import LocalStack

pytestmark = pytest.mark.integration

PAYLOAD_BOUND = 16 * 1024


class CanarySource:
    """A camera whose every frame carries the canary block (and real sensor noise)."""

    def __init__(self, scene: np.ndarray, canary: np.ndarray) -> None:
        self.name = "canary-cam"
        self._scene = scene.copy()
        self._scene[8 : 8 + canary.shape[0], 8 : 8 + canary.shape[1]] = canary
        self._rng = np.random.default_rng(1)
        self._seq = 0

    def open(self) -> None:
        self._seq = 0

    def read(self) -> Frame:
        self._seq += 1
        noise = self._rng.integers(-2, 3, self._scene.shape, dtype=np.int16)
        image = np.clip(self._scene.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        image[8 : 8 + 32, 8 : 8 + 32] = self._scene[8 : 8 + 32, 8 : 8 + 32]  # canary exact
        return Frame(image, FrameMeta(self._seq, self._seq * 100.0, self.name))

    def close(self) -> None:
        return None


def _needles(canary: np.ndarray) -> list[bytes]:
    row = canary[0].tobytes()  # 32 px x 3 channels = 96 random bytes
    block = canary.tobytes()[:48]
    return [
        row,
        block,
        base64.b64encode(row)[:64],
        base64.b64encode(block)[:48],
        row.hex().encode()[:96],
        block.hex().encode()[:96],
    ]


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def test_canary_never_leaves_the_pole(
    stack: LocalStack, tmp_path: Path, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    vision = vision_dir()
    work_tmp = tmp_path / "tmp"
    work_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(work_tmp))
    monkeypatch.setenv("TMPDIR", str(work_tmp))
    canary = np.random.default_rng(int(unique, 16)).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    scene = cv2.imread(str(vision / "images" / "intel_one-by-one-person-detection_f0278.png"))
    assert scene is not None

    clock = ScaledClock(datetime(2026, 12, 15, 12, tzinfo=UTC), speed=1.0)
    device = f"cam-{unique}"
    settings = hub_settings(stack, tmp_path, unique)
    hub = build_hub(settings, clock, [(device, "solna-centrum")])
    camera = CameraConfig(
        asset=f"{device}-cam",
        source="test",
        max_fps=10.0,
        cpu_share=1.0,
        health=CameraHealthConfig(camera=f"{device}-cam", report_interval_s=1),
        crowd=CrowdConfig(
            sensor="cam",
            interval_s=1.0,
            detector=YoloxOnnxConfig(model="yolox_nano_coco_416", model_dir=vision / "models"),
        ),
    )
    loop = CameraLoop(config=camera, clock=clock, source=CanarySource(scene, canary))
    agent = make_agent(lamp_device(device, port=stack.ports.mqtt), clock, tmp_path)
    agent.cameras.append(loop)

    payloads: list[tuple[str, bytes]] = []
    spy = MqttSettings(host="127.0.0.1", port=stack.ports.mqtt, client_id=f"spy-{unique}")
    async with Connection(spy) as conn:
        await conn.subscribe("#", qos=1)

        async def collect(stop: asyncio.Event) -> None:
            while not stop.is_set():
                get = asyncio.ensure_future(conn.messages())
                halt = asyncio.ensure_future(stop.wait())
                await asyncio.wait([get, halt], return_when=asyncio.FIRST_COMPLETED)
                halt.cancel()
                if get.done():
                    payloads.extend((m.topic, m.payload) for m in get.result())
                else:
                    get.cancel()

        async with running(hub.run, agent.run, collect):
            await asyncio.wait_for(hub.ingest.connected.wait(), timeout=30)

            async def crowd_and_health_published() -> bool:
                crowd = await hub.influx.count(
                    f'SELECT count("peopleCount") FROM "raw"."crowd" WHERE device=\'{device}\''
                )
                health = await hub.influx.count(
                    f'SELECT count("sharpness") FROM "raw"."camera" WHERE device=\'{device}\''
                )
                return crowd >= 2 and health >= 2

            await wait_for(crowd_and_health_published, within=60)

    assert loop.frames >= 5
    assert payloads, "the spy saw no traffic"
    needles = _needles(canary)
    for topic, payload in payloads:
        assert len(payload) <= PAYLOAD_BOUND, f"{topic}: {len(payload)} bytes"
        for needle in needles:
            assert needle not in payload, f"canary bytes in a payload on {topic}"
    scanned = _files(tmp_path)
    assert any(p.name.startswith("outbox") for p in scanned)
    for path in scanned:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"canary bytes in {path}"
