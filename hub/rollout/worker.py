"""Runs the open rollouts: steps each every ``tick_s`` (:func:`hub.rollout.store.tick`, which
queues ``install_release`` in the command outbox that :mod:`hub.command_sender` delivers)
and records the poles' release reports from their ``release`` topics.

Its own broker session, persistent, with a shared subscription (several hubs share the
reports), acknowledging each report only once it is in SQL: a report sent while the hub was
away is delivered when it is back, so a healthy pole is not taken for a silent one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace

from sqlalchemy.orm import Session, sessionmaker

from hub.db import DeadLetter
from hub.rollout import store
from trygg import contract as c
from trygg import text
from trygg.backoff import Backoff
from trygg.clock import Clock
from trygg.mqtt import Connection, Incoming, MqttError, MqttSettings

log = logging.getLogger(__name__)


class RolloutWorker:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        clock: Clock,
        mqtt: MqttSettings,
        share_group: str,
        tick_s: float,
    ) -> None:
        self.sessions, self.clock = sessions, clock
        self.mqtt = replace(mqtt, client_id=f"{mqtt.client_id}-releases")
        self.share_group, self.tick_s = share_group, tick_s
        self.reports = self.refused = 0

    async def run(self, stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._ticks(stop), name="rollout-ticks")
            await self._listen(stop)

    async def _ticks(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.to_thread(self.tick)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.tick_s)

    def tick(self) -> None:
        """Step every open rollout once and log what changed."""
        with self.sessions.begin() as s:
            for rollout, d in store.tick(s, now=self.clock.now()):
                if d.send:
                    log.info("rollout %d: told %d device(s) to install", rollout.id, len(d.send))
                for i in d.finished:
                    log.info("rollout %d: stage %d finished", rollout.id, i + 1)
                if d.reason:
                    log.info("rollout %d: %s (%s)", rollout.id, d.status, d.reason)

    async def _listen(self, stop: asyncio.Event) -> None:
        retry = Backoff(0.5, 30.0)
        while not stop.is_set():
            try:
                async with Connection(self.mqtt, manual_ack=True) as conn:
                    topic = f"$share/{self.share_group}/{c.subscription(c.Kind.RELEASE)}"
                    await conn.subscribe(topic)
                    retry.reset()
                    async with asyncio.TaskGroup() as tg:
                        receiving = tg.create_task(self._receive(conn), name="release-reports")
                        await stop.wait()
                        receiving.cancel()
            except* MqttError as group:
                log.warning("rollouts: MQTT session ended: %s", group.exceptions[0])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=retry.next_delay())

    async def _receive(self, conn: Connection) -> None:
        while True:
            batch = await conn.messages()
            await asyncio.to_thread(self.record, batch)
            conn.ack_many(batch)

    def record(self, batch: list[Incoming]) -> None:
        """Take each report into SQL; a bad one is dead-lettered, never stops the rest."""
        now = self.clock.now()
        with self.sessions.begin() as s:
            for msg in batch:
                try:
                    # The device is the topic's (the broker's ACL binds it), never the payload's.
                    device, _, report = c.decode_device_message(msg.topic, msg.payload)
                except c.ContractError as exc:
                    self.refused += 1
                    log.warning("rollouts: bad report on %s: %s", msg.topic[:200], exc.reason)
                    s.add(
                        DeadLetter(
                            at=now,
                            topic=msg.topic[:300],
                            device_id=None,
                            reason=exc.reason[:32],
                            detail=exc.detail[:400],
                            size=len(msg.payload),
                            payload=msg.payload[:4096],
                        )
                    )
                    continue
                if store.record_report(s, report, device=device, now=now):
                    self.reports += 1
                    log.info(
                        "%s: release %s %s %s",
                        device,
                        report.release[:12],
                        report.state,
                        text.escape(report.reason),
                    )
