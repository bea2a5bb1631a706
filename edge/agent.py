"""The edge agent: drivers -> sampler -> durable outbox -> MQTT, and commands back.

One asyncio task group per agent: a sampling task and a link task. The link publishes the
outbox in ``seq`` order, a bounded window ahead of the hub's end-to-end acknowledgement,
and re-sends from the acknowledged point after a reconnect or an acknowledgement timeout;
only that acknowledgement deletes from the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from edge.config import DeviceConfig
from edge.drivers.base import Driver, DriverError
from edge.outbox import Outbox
from edge.sampler import Sampler
from trygg import contract as c
from trygg.clock import Clock, to_ms
from trygg.mqtt import Connection, MqttError, MqttSettings, PublishRefusedError, Will, backoff

log = logging.getLogger(__name__)

MAX_SLEEP_S: Final = 1.0


@dataclass
class AgentStats:
    readings: int = 0
    messages: int = 0
    published: int = 0
    acked: int = 0
    refused: int = 0
    driver_errors: int = 0
    connects: int = 0


@dataclass
class _Link:
    conn: Connection | None = None
    hub_online: bool = False
    acked: int = 0
    sent_upto: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Agent:
    """One device. ``run(stop)`` returns after ``stop`` is set and the outbox is flushed."""

    def __init__(
        self,
        *,
        config: DeviceConfig,
        clock: Clock,
        drivers: Sequence[Driver],
        state_dir: Path | None = None,
        password: str | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.drivers = list(drivers)
        self.state_dir = state_dir or config.state_dir
        self._password = password
        self.outbox = Outbox(self.state_dir / "outbox.sqlite", capacity=config.outbox.capacity)
        self.boot = 0
        self.stats = AgentStats()
        self._sampler = Sampler()
        self._buffer: list[c.Reading] = []
        self._link = _Link()
        self._commands: dict[str, Callable[[c.Command], str]] = {
            "rebirth": self._cmd_rebirth,
            "set_interval": self._cmd_set_interval,
            "outbox_status": self._cmd_outbox_status,
        }

    # ---- topics and messages ---------------------------------------------------------
    def _topic(self, kind: c.Kind) -> str:
        return c.topic_for(self.config.id, kind)

    def _birth(self) -> bytes:
        stats = self.outbox.stats()
        assets = [
            c.AssetInfo(
                id=a.id,
                kind=a.kind,
                lat=a.lat,
                lon=a.lon,
                cabinet=a.cabinet,
                address=a.address,
                properties=a.properties,
            )
            for a in self.config.assets
        ]
        return c.encode(
            c.Birth(
                device=self.config.id,
                boot=self.boot,
                ts=to_ms(self.clock.now()),
                firmware=self.config.firmware,
                site=self.config.site,
                device_class=self.config.device_class,
                heartbeat_s=self.config.heartbeat_s,
                low=stats.low,
                assets=assets,
            )
        )

    def _state(self, *, online: bool) -> bytes:
        return c.encode(
            c.State(
                device=self.config.id, boot=self.boot, online=online, ts=to_ms(self.clock.now())
            )
        )

    @property
    def _historical(self) -> bool:
        link = self._link
        return not (link.conn is not None and link.conn.is_connected and link.hub_online)

    # ---- enqueueing ------------------------------------------------------------------
    async def flush(self) -> None:
        """Move buffered readings into the outbox as data messages."""
        if not self._buffer:
            return
        size = self.config.outbox.batch_readings
        chunks = [self._buffer[i : i + size] for i in range(0, len(self._buffer), size)]
        self._buffer = []
        historical = self._historical

        def builder(chunk: list[c.Reading]) -> Callable[[int], bytes]:
            return lambda seq: c.encode(
                c.Data(
                    device=self.config.id,
                    site=self.config.site,
                    boot=self.boot,
                    seq=seq,
                    historical=historical,
                    readings=chunk,
                )
            )

        items = [(c.Kind.DATA.value, builder(chunk)) for chunk in chunks]
        await asyncio.to_thread(self.outbox.append_many, items, created_ms=to_ms(self.clock.now()))
        self.stats.messages += len(items)
        self._link.wake.set()

    async def emit_events(self, events: list[c.EventItem]) -> None:
        """Enqueue events at once (safety conditions do not wait for a batch)."""
        historical = self._historical

        def build(seq: int) -> bytes:
            return c.encode(
                c.Events(
                    device=self.config.id,
                    site=self.config.site,
                    boot=self.boot,
                    seq=seq,
                    historical=historical,
                    events=events,
                )
            )

        await asyncio.to_thread(
            self.outbox.append, c.Kind.EVENT.value, build, created_ms=to_ms(self.clock.now())
        )
        self.stats.messages += 1
        self._link.wake.set()

    # ---- sampling --------------------------------------------------------------------
    async def _sample_loop(self, stop: asyncio.Event) -> None:
        now = self.clock.now()
        due = {id(d): now for d in self.drivers}
        last_flush = now
        while not stop.is_set():
            now = self.clock.now()
            for driver in self.drivers:
                if due[id(driver)] <= now:
                    await self._sample(driver, now)
                    due[id(driver)] = now + timedelta(seconds=driver.interval_s)
            if (now - last_flush).total_seconds() >= self.config.outbox.flush_s or len(
                self._buffer
            ) >= self.config.outbox.batch_readings:
                await self.flush()
                last_flush = now
            next_due = min(
                [*due.values(), last_flush + timedelta(seconds=self.config.outbox.flush_s)]
            )
            wait = (next_due - self.clock.now()).total_seconds() / self.clock.scale()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=min(max(wait, 0.001), MAX_SLEEP_S))
        await self.flush()

    async def _sample(self, driver: Driver, when: datetime) -> None:
        try:
            sample = driver.read(when)
        except DriverError as exc:
            self.stats.driver_errors += 1
            log.warning("%s/%s: read failed: %s", driver.asset, driver.sensor, exc)
            return
        readings = self._sampler.readings(
            asset=driver.asset, kind=driver.kind, sensor=driver.sensor, sample=sample, now=when
        )
        self._buffer.extend(readings)
        self.stats.readings += len(readings)

    # ---- link ------------------------------------------------------------------------
    def _mqtt_settings(self) -> MqttSettings:
        b = self.config.broker
        return MqttSettings(
            host=b.host,
            port=b.port,
            client_id=self.config.id,
            username=b.username or (self.config.id if self._password else None),
            password=self._password,
            ca_file=b.ca_file,
            cert_file=b.cert_file,
            key_file=b.key_file,
            keepalive_s=b.keepalive_s,
        )

    async def _link_loop(self, stop: asyncio.Event) -> None:
        delays = backoff(self.config.broker.reconnect_min_s, self.config.broker.reconnect_max_s)
        while not stop.is_set():
            try:
                await self._session(stop)
                delays = backoff(
                    self.config.broker.reconnect_min_s, self.config.broker.reconnect_max_s
                )
            except MqttError as exc:
                log.info("%s: link down: %s", self.config.id, exc)
            self._link.conn = None
            if stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=next(delays))

    async def _session(self, stop: asyncio.Event) -> None:
        will = Will(self._topic(c.Kind.STATE), self._state(online=False))
        async with Connection(self._mqtt_settings(), will=will) as conn:
            self.stats.connects += 1
            link = self._link
            link.conn = conn
            link.sent_upto = link.acked = max(link.acked, self.outbox.stats().low - 1)
            await conn.subscribe(
                self._topic(c.Kind.ACK), self._topic(c.Kind.CMD), c.HUB_STATE_TOPIC
            )
            await conn.publish(self._topic(c.Kind.STATE), self._state(online=True), retain=True)
            await conn.publish(self._topic(c.Kind.BIRTH), self._birth(), retain=True)
            async with asyncio.TaskGroup() as tg:
                pump = tg.create_task(self._pump(conn, stop), name="pump")
                recv = tg.create_task(self._receive(conn), name="receive")
                await asyncio.wait(
                    [pump, recv, asyncio.ensure_future(stop.wait())],
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if stop.is_set():
                    await self._drain(conn)
                    await conn.publish(
                        self._topic(c.Kind.STATE), self._state(online=False), retain=True
                    )
                pump.cancel()
                recv.cancel()
            if not stop.is_set():
                raise MqttError(
                    f"session ended: {conn.disconnected.result()}"
                    if conn.disconnected.done()
                    else "session ended"
                )

    async def _drain(self, conn: Connection, timeout_s: float = 5.0) -> None:
        """On shutdown, give the hub a moment to acknowledge what is in flight."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline and conn.is_connected:
            if self.outbox.stats().depth == 0:
                return
            await self._send_window(conn)
            self._link.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._link.wake.wait(), timeout=0.1)

    async def _send_window(self, conn: Connection) -> int:
        link = self._link
        room = self.config.outbox.window - (link.sent_upto - link.acked)
        if room <= 0:
            return 0
        pending = await asyncio.to_thread(self.outbox.pending, after=link.sent_upto, limit=room)
        if not pending:
            return 0
        futures = [conn.publish_nowait(self._topic(c.Kind(p.kind)), p.payload) for p in pending]
        codes = await asyncio.gather(*futures)
        for p, code in zip(pending, codes, strict=True):
            if code >= 0x80:
                self.stats.refused += 1
                raise PublishRefusedError(self._topic(c.Kind(p.kind)), code)
            link.sent_upto = p.seq
            self.stats.published += 1
        return len(pending)

    async def _pump(self, conn: Connection, stop: asyncio.Event) -> None:
        link = self._link
        timeout = self.config.outbox.ack_timeout_s / self.clock.scale()
        while not stop.is_set():
            link.wake.clear()
            sent = await self._send_window(conn)
            if sent:
                continue
            acked_before = link.acked
            try:
                await asyncio.wait_for(link.wake.wait(), timeout=max(timeout, 0.05))
            except TimeoutError:
                if link.sent_upto > link.acked == acked_before:
                    log.info(
                        "%s: no ack for %.0fs, re-sending from %d",
                        self.config.id,
                        self.config.outbox.ack_timeout_s,
                        link.acked + 1,
                    )
                    link.sent_upto = link.acked

    async def _receive(self, conn: Connection) -> None:
        while True:
            for msg in await conn.messages():
                try:
                    await self._handle(conn, msg.topic, msg.payload)
                except c.ContractError as exc:
                    log.warning("%s: bad message on %s: %s", self.config.id, msg.topic, exc)

    async def _handle(self, conn: Connection, topic: str, payload: bytes) -> None:
        link = self._link
        if topic == c.HUB_STATE_TOPIC:
            link.hub_online = bool(c.decode_hub_state(payload).online)
        elif topic == self._topic(c.Kind.ACK):
            ack = c.decode(c.Kind.ACK, payload)
            if ack.seq > link.acked:
                deleted = await asyncio.to_thread(self.outbox.ack, ack.seq)
                self.stats.acked += deleted
                link.acked = ack.seq
                link.sent_upto = max(link.sent_upto, link.acked)
            low = self.outbox.stats().low
            if ack.seq < low - 1:  # we dropped messages the hub never saw: tell it our floor
                await conn.publish(self._topic(c.Kind.BIRTH), self._birth(), retain=True)
            link.wake.set()
        elif topic == self._topic(c.Kind.CMD):
            await self._command(conn, payload)

    async def _command(self, conn: Connection, payload: bytes) -> None:
        try:
            cmd: c.Command = c.decode(c.Kind.CMD, payload)
        except c.ContractError as exc:
            result = c.CommandResult(
                device=self.config.id,
                id="invalid",
                ok=False,
                message=str(exc)[:500],
                ts=to_ms(self.clock.now()),
            )
        else:
            handler = self._commands.get(cmd.name)
            if handler is None:
                ok, text = False, f"command {cmd.name!r} not supported by this device"
            else:
                try:
                    ok, text = True, handler(cmd)
                except (ValueError, KeyError, TypeError) as exc:
                    ok, text = False, str(exc)
            result = c.CommandResult(
                device=self.config.id,
                id=cmd.id,
                ok=ok,
                message=text[:500],
                ts=to_ms(self.clock.now()),
            )
            if cmd.name == "rebirth" and ok:
                await conn.publish(self._topic(c.Kind.BIRTH), self._birth(), retain=True)
        await conn.publish(self._topic(c.Kind.CMD_RESULT), c.encode(result))

    def _cmd_rebirth(self, _cmd: c.Command) -> str:
        return "birth re-sent"

    def _cmd_set_interval(self, cmd: c.Command) -> str:
        seconds = float(cmd.args["seconds"])
        if not 0.1 <= seconds <= 86_400:
            raise ValueError("seconds must be within 0.1..86400")
        sensor = cmd.args.get("sensor")
        changed = 0
        for driver in self.drivers:
            if sensor in (None, driver.sensor):
                driver.interval_s = seconds
                changed += 1
        if not changed:
            raise ValueError(f"no sensor {sensor!r}")
        return f"interval {seconds}s on {changed} sensor(s)"

    def _cmd_outbox_status(self, _cmd: c.Command) -> str:
        s = self.outbox.stats()
        return f"depth={s.depth} low={s.low} next={s.next_seq} dropped={s.dropped}"

    # ---- lifecycle -------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        self.boot = await asyncio.to_thread(self.outbox.next_boot)
        for driver in self.drivers:
            driver.open()
        log.info("%s: boot %d, %d sensor(s)", self.config.id, self.boot, len(self.drivers))
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._sample_loop(stop), name=f"{self.config.id}-sample")
                tg.create_task(self._link_loop(stop), name=f"{self.config.id}-link")
        finally:
            for driver in self.drivers:
                with contextlib.suppress(DriverError, OSError):
                    driver.close()
            self.outbox.close()
