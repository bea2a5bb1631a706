"""The agent's sampling path without a broker: bad drivers give events, never a crash."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

from edge.agent import Agent
from edge.config import DeviceConfig
from edge.drivers.base import DriverError, Sample
from trygg.clock import FakeClock
from trygg.contract import AssetKind

NOW = datetime(2026, 12, 15, 21, 0, tzinfo=UTC)


class Flaky:
    """A blocking driver that returns garbage types, raises, or hangs, as told."""

    kind = AssetKind.BIN
    blocking = True

    def __init__(self, mode: str) -> None:
        self.asset, self.sensor, self.interval_s = "bin-1", mode, 1.0
        self.mode = mode
        self.release = threading.Event()

    def open(self) -> None:
        return None

    def close(self) -> None:
        self.release.set()

    def read(self, now: datetime) -> Sample:
        if self.mode == "hang":
            self.release.wait(10)
            return Sample({"temperature": 9.0})
        if self.mode == "bug":
            raise ZeroDivisionError("driver bug")
        if self.mode == "gone":
            raise DriverError("no such device")
        return Sample({"temperature": 8.0})


def _agent(tmp: Path, drivers: list[Flaky]) -> Agent:
    config = DeviceConfig.model_validate({"id": "pole-s1", "site": "s"})
    agent = Agent(config=config, clock=FakeClock(NOW), drivers=drivers, state_dir=tmp)
    agent.boot = 1
    return agent


async def test_failures_and_hangs_become_sensor_fault_events(tmp_path: Path) -> None:
    drivers = [Flaky("hang"), Flaky("bug"), Flaky("gone"), Flaky("ok")]
    agent = _agent(tmp_path, drivers)
    agent.read_timeout_s = 0.2
    for _ in range(2):
        for d in drivers:
            await agent._sample(d, NOW)
    await agent.flush()
    held = agent.outbox.pending(after=0, limit=100)
    events = [e for p in held if p.kind == "event" for e in json.loads(p.payload)["events"]]
    faulted = sorted(e["asset"] + "/" + e["type"] for e in events)
    assert faulted == ["bin-1/sensorFault"] * 3  # latched: once per failing sensor
    assert agent.stats.driver_errors == 6
    data = [r for p in held if p.kind == "data" for r in json.loads(p.payload)["readings"]]
    assert [r["v"] for r in data] == [8.0, 8.0]  # the good sensor kept reporting
    drivers[0].release.set()
    agent.outbox.close()
