"""Delivers the hub's command outbox (:mod:`hub.commands`) to devices over MQTT.

Its own broker session, so it neither waits behind nor slows down the ingest pipeline. It
publishes due commands (QoS 1) every ``every_s`` seconds, re-sends those a device has not
answered after ``retry_s`` (a pole may be offline for hours; a command is idempotent on
the pole), and records each device's command result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from hub import commands
from trygg import contract as c
from trygg import text
from trygg.backoff import Backoff
from trygg.clock import Clock, to_ms
from trygg.mqtt import Connection, MqttError, MqttSession, MqttSettings

log = logging.getLogger(__name__)


class CommandSender:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        clock: Clock,
        mqtt: MqttSettings,
        every_s: float = 1.0,
        retry_s: float = 300.0,
    ) -> None:
        self.sessions, self.clock = sessions, clock
        # a session of its own: clean, no queue kept while the hub is away
        self.mqtt = replace(
            mqtt, client_id=f"{mqtt.client_id}-cmd", clean_start=True, session_expiry_s=0
        )
        self.every_s, self.retry = every_s, timedelta(seconds=retry_s)
        self.sent = self.answered = 0

    async def run(self, stop: asyncio.Event) -> None:
        retry = Backoff(0.5, 30.0)
        while not stop.is_set():
            try:
                async with Connection(self.mqtt) as conn:
                    await conn.subscribe(c.subscription(c.Kind.CMD_RESULT))
                    retry.reset()
                    async with asyncio.TaskGroup() as tg:
                        receiving = tg.create_task(self._receive(conn))
                        await self._send(conn, stop)
                        receiving.cancel()
            except* MqttError as group:  # from the connection or its receiving task
                log.warning("command sender: MQTT session ended: %s", group.exceptions[0])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=retry.next_delay())

    async def _send(self, conn: MqttSession, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for topic, payload in await asyncio.to_thread(self._take_due):
                await conn.publish(topic, payload)
                self.sent += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every_s)

    def _take_due(self) -> list[tuple[str, bytes]]:
        now = self.clock.now()
        with self.sessions.begin() as s:
            due = commands.due(s, now=now, retry=self.retry)
            return [commands.message(cmd, now_ms=to_ms(now)) for cmd in due]

    async def _receive(self, conn: MqttSession) -> None:
        while True:
            for msg in await conn.messages():
                try:
                    # The device is the topic's (the broker ACL binds it), never the payload's.
                    device, _, result = c.decode_device_message(msg.topic, msg.payload)
                except c.ContractError as exc:
                    # The ingest dead-letters the same message; this is only its echo.
                    log.warning("command sender: bad result on %s: %s", msg.topic, exc.reason)
                    continue
                if await asyncio.to_thread(self._record, device, result):
                    self.answered += 1
                    log.info(
                        "%s: command %s ok=%s %s",
                        device,
                        result.id,
                        result.ok,
                        text.escape(result.message),
                    )

    def _record(self, device: str, result: c.CommandResult) -> bool:
        with self.sessions.begin() as s:
            return commands.record_result(s, result, device=device, now=self.clock.now())
