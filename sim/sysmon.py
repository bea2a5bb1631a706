"""The broker's own count of connected clients (``$SYS/broker/clients/connected``).

Mosquitto publishes it every ``sys_interval`` (10 s by default); it is the independent
proof that N agents really hold N MQTT connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging

from trygg.aio import wait_event
from trygg.mqtt import Connection, MqttError, MqttSettings

log = logging.getLogger(__name__)
TOPIC = "$SYS/broker/clients/connected"
_ids = itertools.count(1)


class SysMonitor:
    def __init__(self, *, port: int, host: str = "127.0.0.1") -> None:
        self._settings = MqttSettings(
            host=host, port=port, client_id=f"trygg-sim-sysmon-{next(_ids)}"
        )
        self.connected: int | None = None
        self.peak = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with Connection(self._settings) as conn:
                    await conn.subscribe(TOPIC, qos=0)
                    await self._receive(conn, stop)
            except MqttError as exc:
                log.debug("sysmon: %s", exc)
            await wait_event(stop, 1.0)

    async def _receive(self, conn: Connection, stop: asyncio.Event) -> None:
        stopper = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                getter = asyncio.ensure_future(conn.messages())
                await asyncio.wait([getter, stopper], return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    return
                for msg in getter.result():
                    with contextlib.suppress(ValueError):
                        self.connected = int(msg.payload.decode())
                        self.peak = max(self.peak, self.connected)
        finally:
            stopper.cancel()
