"""A hub in its own process for the kill/restart test: ``python -m tests.rules.hub_proc
SETTINGS_JSON OFFSET_S READY_FILE``. Its clock is the wall clock shifted by OFFSET_S, so a
restarted process continues the same simulated time. Touches READY_FILE once ingest is
connected; SIGTERM stops it cleanly (the test uses SIGKILL to stop it uncleanly)."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from datetime import datetime, timedelta
from pathlib import Path

from hub.app import Hub
from hub.settings import HubSettings
from trygg.clock import SystemClock


class OffsetClock(SystemClock):
    def __init__(self, offset_s: float) -> None:
        self.offset = timedelta(seconds=offset_s)

    def now(self) -> datetime:
        return super().now() + self.offset


async def main(settings: HubSettings, offset_s: float, ready: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    hub = Hub.build(settings, OffsetClock(offset_s))
    async with asyncio.TaskGroup() as tg:
        tg.create_task(hub.run(stop, serve_api=False), name="hub")
        await asyncio.wait_for(hub.ingest.connected.wait(), timeout=30)
        await asyncio.to_thread(ready.write_text, "ready")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    raw = json.loads(sys.argv[1])
    asyncio.run(main(HubSettings.model_validate(raw), float(sys.argv[2]), Path(sys.argv[3])))
