"""The agent's MQTT session: publish the outbox, receive acknowledgements and commands.

The pump publishes the outbox in ``seq`` order, at most ``window`` messages ahead of the
hub's end-to-end acknowledgement, and re-sends from the acknowledged point after a
reconnect, when the hub asks for a rebirth (it saw a sequence gap), or when no
acknowledgement came for ``ack_timeout_s`` (wall seconds: network latency does not speed
up with a simulated clock). Only that acknowledgement deletes from
the outbox. A publish the broker refuses (MQTT v5 PUBACK reason >= 0x80, e.g. an ACL) keeps
the message, raises a ``publishRefused`` device event and ends the session, so the
reconnect back-off paces the retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, ParamSpec, Protocol, TypeVar

from edge.config import DeviceConfig
from edge.outbox import Outbox
from edge.renewal import untrusted_broker
from edge.renewer import Renewer
from edge.stats import AgentStats
from trygg import contract as c
from trygg.aio import wait_event
from trygg.backoff import Backoff
from trygg.mqtt import Connection, MqttError, MqttSession, MqttSettings, PublishRefusedError, Will

log = logging.getLogger(__name__)
_P = ParamSpec("_P")
_T = TypeVar("_T")


class Device(Protocol):
    """What the link needs from the device it serves."""

    @property
    def config(self) -> DeviceConfig: ...

    @property
    def offline(self) -> bool: ...

    @property
    def flushed(self) -> asyncio.Event: ...

    async def io(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T: ...

    def birth_message(self) -> bytes: ...

    def state_message(self, *, online: bool) -> bytes: ...

    async def device_event(self, what: str, *, severity: Any = ..., **values: float) -> None: ...


class ReportSource(Protocol):
    """Release reports waiting to be published (kept on disk until the broker has them)."""

    @property
    def wake(self) -> asyncio.Event: ...

    def pending(self) -> list[tuple[Any, bytes]]: ...

    def sent(self, key: Any) -> None: ...


class CommandHandler(Protocol):
    """Answers the hub's commands: the result to publish, and whether a birth must follow."""

    async def handle(self, payload: bytes) -> tuple[c.CommandResult, bool]: ...


def _abort(conn: MqttSession) -> None:
    """Drop the connection without a DISCONNECT, as a lost link would, so the broker
    publishes the Last Will (simulates a device going offline)."""
    conn.abort()


async def _unwrap(session: Coroutine[Any, Any, None]) -> None:
    """Run ``session``; an MQTT error from inside its task group comes out as itself."""
    try:
        await session
    except ExceptionGroup as group:
        mqtt = [e for e in group.exceptions if isinstance(e, MqttError)]
        if mqtt and len(mqtt) == len(group.exceptions):
            raise mqtt[0] from group
        raise


@dataclass
class LinkState:
    conn: MqttSession | None = None
    hub_online: bool = False
    acked: int = 0
    sent_upto: int = 0
    rewind: bool = False  # re-send from ``acked``; the pump applies it between windows
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    cut: asyncio.Event = field(default_factory=asyncio.Event)  # set: drop the link now
    # set: end the session cleanly and connect again (with a renewed certificate)
    reconnect: asyncio.Event = field(default_factory=asyncio.Event)


class Link:
    def __init__(
        self,
        device: Device,
        *,
        outbox: Outbox,
        commands: CommandHandler,
        stats: AgentStats,
        password: str | None,
        renewer: Renewer | None = None,
        reports: ReportSource | None = None,
    ) -> None:
        self._device = device
        self.reports = reports
        self._renewer = renewer
        self._entered = False
        self.state = LinkState()
        self._outbox = outbox
        self._commands = commands
        self._stats = stats
        self._password = password
        self._refusal_reported = False
        self._untrusted = 0  # connections refused since the last one that worked
        self._topics: dict[str, str] = {}
        self._topics_of = ""

    @property
    def connected(self) -> bool:
        conn = self.state.conn
        return conn is not None and conn.is_connected

    @property
    def live(self) -> bool:
        """Connected, and the hub is online: what is sent now is not historical."""
        return self.connected and self.state.hub_online

    def wake(self) -> None:
        """New messages are in the outbox: let the pump send them."""
        self.state.wake.set()

    def cut(self) -> None:
        """Drop the link now, without a DISCONNECT (the device went offline)."""
        self.state.cut.set()

    def settings(self) -> MqttSettings:
        b = self._device.config.broker
        cert_file, key_file, ca_file = b.cert_file, b.key_file, b.ca_file
        if self._renewer is not None:
            creds = self._renewer.credentials()
            cert_file, key_file = creds.cert, creds.key
            ca_file = self._renewer.trust_file()
        return MqttSettings(
            host=b.host,
            port=b.port,
            client_id=self._device.config.id,
            username=b.username or (self._device.config.id if self._password else None),
            password=self._password,
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
            keepalive_s=b.keepalive_s,
        )

    def _topic(self, kind: str) -> str:
        """The device's topic for ``kind`` (a Kind or its value); built once per device id
        (a reload keeps the id), not for every message."""
        device = self._device.config.id
        if self._topics_of != device:
            self._topics = {k.value: c.topic_for(device, k) for k in c.Kind}
            self._topics_of = device
        return self._topics[kind]

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, serve, reconnect with jittered exponential back-off until ``stop``."""
        broker = self._device.config.broker
        retry = Backoff(broker.reconnect_min_s, broker.reconnect_max_s)
        if self._renewer is not None:
            await self._renewer.start()
        while not stop.is_set():
            if self._device.offline:
                await self._idle(stop, 0.2)
                continue
            on_trial = self._renewer is not None and self._renewer.trial is not None
            self._entered = False
            try:
                await self._connected_or_stopped(stop)
                retry.reset()
            except PublishRefusedError as exc:
                log.warning("%s: %s", self._device.config.id, exc)
                self._stats.refused += 1
                if not self._refusal_reported:  # one event per episode, not one per retry
                    self._refusal_reported = True
                    await self._device.device_event(
                        "publishRefused", severity="major", reason=float(exc.reason)
                    )
            except MqttError as exc:
                log.info("%s: link down: %s", self._device.config.id, exc)
                if on_trial and not self._entered and self._renewer is not None:
                    await self._renewer.connect_failed()
                elif not self._entered and untrusted_broker(str(exc)):
                    self._untrusted += 1
                    if self._untrusted == 1:  # once per episode: it repeats every retry
                        log.error(
                            "%s: the broker's certificate is not signed by a CA this pole "
                            "trusts; if the fleet CA was rolled over while this pole was "
                            "away, it needs a new bundle (trygg provision renew %s)",
                            self._device.config.id,
                            self._device.config.id,
                        )
            self.state.conn = None
            if not stop.is_set():
                await self._idle(stop, retry.next_delay())

    async def _connected_or_stopped(self, stop: asyncio.Event) -> None:
        """Run one session; a stop while it is still connecting (the broker unreachable)
        ends it at once, as a stop once connected lets it drain first."""
        session = asyncio.ensure_future(_unwrap(self._session(stop)))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({session, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not session.done() and not self._entered:
                session.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await session
                return
            await session
        finally:
            stopping.cancel()

    @staticmethod
    async def _idle(stop: asyncio.Event, seconds: float) -> None:
        await wait_event(stop, seconds)

    async def _session(self, stop: asyncio.Event) -> None:
        device, link = self._device, self.state
        will = Will(self._topic(c.Kind.STATE), device.state_message(online=False))
        async with Connection(self.settings(), will=will) as conn:
            self._entered = True
            self._untrusted = 0
            if self._renewer is not None:
                await self._renewer.connected()
            self._stats.connects += 1
            link.conn = conn
            link.cut.clear()
            link.reconnect.clear()
            link.sent_upto = link.acked = max(link.acked, self._outbox.low - 1)
            topics = [self._topic(c.Kind.ACK), self._topic(c.Kind.CMD), c.HUB_STATE_TOPIC]
            if self._renewer is not None:
                topics.append(self._topic(c.Kind.CERT))
            await conn.subscribe(*topics)
            await conn.publish(
                self._topic(c.Kind.STATE), device.state_message(online=True), retain=True
            )
            await self.publish_birth(conn)
            log.info("%s: connected", device.config.id)
            async with asyncio.TaskGroup() as tg:
                pump = tg.create_task(self._pump(conn, stop), name="pump")
                recv = tg.create_task(self._receive(conn), name="receive")
                stopping = tg.create_task(stop.wait(), name="stop")
                cut = tg.create_task(link.cut.wait(), name="cut")
                again = tg.create_task(link.reconnect.wait(), name="reconnect")
                tasks = [pump, recv, stopping, cut, again]
                if self._renewer is not None:
                    tasks.append(tg.create_task(self._renew(conn, self._renewer), name="renew"))
                if self.reports is not None:
                    tasks.append(
                        tg.create_task(self._report(conn, self.reports), name="release-reports")
                    )
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set() and not link.cut.is_set():
                    await self._drain(conn)
                    await conn.publish(
                        self._topic(c.Kind.STATE), device.state_message(online=False), retain=True
                    )
                for task in tasks:
                    task.cancel()
            if link.reconnect.is_set() and not stop.is_set():
                raise MqttError("reconnecting with the renewed certificate")
            if link.cut.is_set():
                _abort(conn)
                raise MqttError("link cut (device offline)")
            if not stop.is_set():
                raise MqttError(
                    f"session ended: {conn.disconnected.result()}"
                    if conn.disconnected.done()
                    else "session ended"
                )

    async def _renew(self, conn: MqttSession, renewer: Renewer) -> None:
        """Publish a certificate request whenever one is due."""
        while True:
            request = await renewer.request()
            if request is not None:
                await conn.publish(self._topic(c.Kind.CSR), request)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(renewer.wake.wait(), timeout=renewer.check_s)
            renewer.wake.clear()

    async def _report(self, conn: MqttSession, reports: ReportSource) -> None:
        """Publish queued release reports, oldest first, each forgotten once PUBACKed."""
        while True:
            reports.wake.clear()
            for key, payload in await asyncio.to_thread(reports.pending):
                await conn.publish(self._topic(c.Kind.RELEASE), payload)
                await asyncio.to_thread(reports.sent, key)
            await reports.wake.wait()

    async def publish_birth(self, conn: MqttSession) -> None:
        birth = await self._device.io(self._device.birth_message)
        await conn.publish(self._topic(c.Kind.BIRTH), birth, retain=True)
        self._stats.births += 1

    async def _drain(self, conn: MqttSession, timeout_s: float = 5.0) -> None:
        """On shutdown, give the hub a moment to acknowledge what is in flight (including
        the sampler's last flush)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        await wait_event(self._device.flushed, timeout_s)
        while loop.time() < deadline and conn.is_connected:
            if (await self._device.io(self._outbox.stats)).depth == 0:
                return
            await self._send_window(conn)
            self.state.wake.clear()
            await wait_event(self.state.wake, 0.1)

    async def _send_window(self, conn: MqttSession) -> int:
        device, link = self._device, self.state
        room = device.config.outbox.window - (link.sent_upto - link.acked)
        if room <= 0 or link.sent_upto >= self._outbox.last_seq:
            return 0
        pending = await device.io(self._outbox.pending, after=link.sent_upto, limit=room)
        if not pending:
            return 0
        futures = [conn.publish_nowait(self._topic(p.kind), p.payload) for p in pending]
        codes = await asyncio.gather(*futures)
        for p, code in zip(pending, codes, strict=True):
            if code >= 0x80:  # kept in the outbox; run() reports it and backs off
                raise PublishRefusedError(self._topic(p.kind), code)
            link.sent_upto = p.seq
            self._stats.published += 1
            self._refusal_reported = False
        return len(pending)

    async def _pump(self, conn: MqttSession, stop: asyncio.Event) -> None:
        """Publish within the window; re-send from the acknowledged point when the hub has
        made no progress for ``ack_timeout_s`` while messages are outstanding (new readings
        waking the pump must not postpone that, or a lost message would wait forever)."""
        link = self.state
        loop = asyncio.get_running_loop()
        timeout = self._device.config.outbox.ack_timeout_s
        acked_seen, progress_at = link.acked, loop.time()
        while not stop.is_set():
            link.wake.clear()
            now = loop.time()
            if link.rewind:  # here, not in the handler: a window in flight would undo it
                link.rewind, link.sent_upto = False, min(link.sent_upto, link.acked)
            if link.acked != acked_seen or link.sent_upto <= link.acked:
                acked_seen, progress_at = link.acked, now
            elif now - progress_at >= timeout:
                log.info(
                    "%s: no ack for %.0fs, re-sending from %d",
                    self._device.config.id,
                    timeout,
                    link.acked + 1,
                )
                link.sent_upto = link.acked
                progress_at = now
            if await self._send_window(conn):
                continue
            wait = timeout - (loop.time() - progress_at) if link.sent_upto > link.acked else timeout
            await wait_event(link.wake, max(wait, 0.05))

    async def _receive(self, conn: MqttSession) -> None:
        while True:
            for msg in await conn.messages():
                try:
                    await self._handle(conn, msg.topic, msg.payload)
                except c.ContractError as exc:
                    log.warning("%s: bad message on %s: %s", self._device.config.id, msg.topic, exc)

    async def _handle(self, conn: MqttSession, topic: str, payload: bytes) -> None:
        device, link = self._device, self.state
        if topic == c.HUB_STATE_TOPIC:
            link.hub_online = bool(c.decode_hub_state(payload).online)
        elif topic == self._topic(c.Kind.ACK):
            ack = c.decode(c.Kind.ACK, payload)
            self._stats.acks += 1
            if ack.seq > link.acked:
                deleted = await device.io(self._outbox.ack, ack.seq)
                self._stats.acked += deleted
                link.acked = ack.seq
                link.sent_upto = max(link.sent_upto, link.acked)
            if ack.seq < self._outbox.low - 1:
                # we dropped messages the hub never saw: tell it our floor
                await self.publish_birth(conn)
            if link.sent_upto < self._outbox.last_seq:
                # the window moved and more is waiting; with nothing to send the pump sleeps
                # on (it sees the progress when it next wakes, before any re-send)
                link.wake.set()
        elif topic == self._topic(c.Kind.CERT) and self._renewer is not None:
            if await self._renewer.reply(payload):
                link.reconnect.set()
        elif topic == self._topic(c.Kind.CMD):
            result, rebirth = await self._commands.handle(payload)
            if rebirth:
                # The hub asks after a sequence gap: with the birth (and its ``low``), send
                # again everything it has not acknowledged, instead of waiting for the ack
                # timeout while the outbox fills. Duplicates are dropped by the hub.
                await self.publish_birth(conn)
                link.rewind = True
                link.wake.set()
            await conn.publish(self._topic(c.Kind.CMD_RESULT), c.encode(result))
