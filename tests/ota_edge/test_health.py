"""The health check a release on trial must pass: what counts as a sensor read."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import yaml

from edge.agent import Agent
from edge.config import load_device_config
from edge.drivers.base import DriverError, Sample
from edge.drivers.registry import build_drivers
from tests.edge.secure import lamp_assets
from trygg.clock import FakeClock


def _agent(tmp: Path) -> Agent:
    path = tmp / "pole.yaml"
    doc = {"id": "pole-h", "site": "solna", "state_dir": str(tmp / "state")}
    doc |= yaml.safe_load(lamp_assets("pole-h", lamps=3))
    path.write_text(yaml.safe_dump(doc))
    config = load_device_config(path)
    return Agent(
        config=config,
        clock=FakeClock(datetime(2026, 12, 1, tzinfo=UTC)),
        drivers=build_drivers(config.assets),
    )


def test_a_hardware_fault_counts_as_read_and_a_code_error_does_not(tmp_path: Path) -> None:
    agent = _agent(tmp_path)
    ok, dead, buggy = agent.drivers

    def dead_read(now: datetime) -> Sample:
        raise DriverError("no answer on the bus")

    def buggy_read(now: datetime) -> Sample:
        raise KeyError("a bug in the release")

    dead.read = dead_read  # type: ignore[method-assign]
    buggy.read = buggy_read  # type: ignore[method-assign]
    agent.boot = 1  # as run() sets it; the events of failed reads carry it
    try:
        missing = " ".join(agent.health())
        assert "never connected" in missing
        assert "pole-h-lamp0/lamp, pole-h-lamp1/lamp, pole-h-lamp2/lamp" in missing

        async def sample_all() -> None:
            for driver in agent.drivers:
                await agent._sample(driver, agent.clock.now())

        asyncio.run(sample_all())
        missing = " ".join(agent.health())
        # the dead sensor (lamp1) answered with a fault; only the buggy one is missing
        assert "sensors not reading: pole-h-lamp2/lamp sensor" in missing
        assert "sensor code failing: pole-h-lamp2/lamp (KeyError)" in missing
        agent.stats.connects = agent.stats.births = agent.stats.acks = 1
        buggy.read = ok.read  # type: ignore[method-assign]
        asyncio.run(sample_all())
        assert agent.health() == []
    finally:
        agent.outbox.close()
