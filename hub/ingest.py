"""Hub ingest: MQTT -> validate -> de-duplicate -> InfluxDB, acknowledging only what is stored.

Order for each batch of messages, which is what makes "nothing lost, nothing doubled" hold:

1. decode and check every message (bad ones are dead-lettered with a reason);
2. drop duplicates by (device, boot, seq);
3. write the batch's lines to InfluxDB, retrying with back-off until it succeeds (no PUBACK
   is sent meanwhile, so the broker keeps the messages and back-pressure reaches devices);
4. commit the new watermarks, counters, device state and dead letters to SQL;
5. PUBACK the messages to the broker, then tell each device its watermark (end-to-end ack);
6. hand the stored readings and events to the rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter as Tally
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hub.db import Asset, DeadLetter, Device
from hub.db import Counter as CounterRow
from hub.dedup import SeqState
from hub.influx import Influx, InfluxError
from hub.lineproto import point, reading_lines
from hub.settings import HubSettings
from trygg import contract as c
from trygg.clock import Clock, from_ms, to_ms
from trygg.mqtt import Connection, Incoming, MqttError, MqttSettings, Will, backoff

log = logging.getLogger(__name__)

DEAD_LETTER_PAYLOAD_BYTES = 4096
Sink = Callable[[list[tuple[str, Any]]], Awaitable[None]]


@dataclass
class IngestCounters:
    messages: int = 0
    readings: int = 0
    events: int = 0
    duplicates: int = 0
    duplicate_readings: int = 0
    gaps: int = 0
    lost: int = 0
    dead: Tally[str] = field(default_factory=Tally)
    batches: int = 0
    write_retries: int = 0

    def as_rows(self) -> dict[str, int]:
        rows = {k: int(v) for k, v in vars(self).items() if isinstance(v, int)}
        rows.update({f"dead.{reason}": n for reason, n in self.dead.items()})
        return rows


@dataclass
class _Batch:
    lines: list[str] = field(default_factory=list)
    marks: list[tuple[str, int]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)
    seen: set[tuple[str, int]] = field(default_factory=set)
    stored: list[tuple[str, Any]] = field(default_factory=list)
    births: list[c.Birth] = field(default_factory=list)
    states: list[c.State] = field(default_factory=list)
    last_seen: dict[str, int] = field(default_factory=dict)


class Ingest:
    def __init__(
        self,
        *,
        settings: HubSettings,
        sessions: sessionmaker[Session],
        influx: Influx,
        clock: Clock,
        sink: Sink | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.influx = influx
        self.clock = clock
        self.sink = sink
        self.counters = IngestCounters()
        self.seq: dict[str, SeqState] = {}
        self.known: set[str] = set()
        self.connected = asyncio.Event()
        self._conn: Connection | None = None

    # ---- start-up --------------------------------------------------------------------
    def load(self) -> None:
        """Known devices, their watermarks and the counters, from SQL."""
        with self.sessions() as s:
            for dev in s.scalars(select(Device)):
                self.known.add(dev.id)
                self.seq[dev.id] = SeqState(
                    watermark=dev.watermark,
                    above={int(x) for x in dev.above.get("seqs", [])},
                    max_seen=dev.watermark,
                    gaps=dev.gaps,
                    lost=dev.lost,
                    boot=dev.boot,
                )
            for row in s.scalars(select(CounterRow)):
                if row.name.startswith("dead."):
                    self.counters.dead[row.name[5:]] = row.value
                elif hasattr(self.counters, row.name):
                    setattr(self.counters, row.name, row.value)

    # ---- MQTT ------------------------------------------------------------------------
    def _mqtt_settings(self) -> MqttSettings:
        s = self.settings
        return MqttSettings(
            host=s.mqtt_host,
            port=s.mqtt_port,
            client_id=s.client_id,
            username=s.mqtt_username,
            password=s.mqtt_password,
            ca_file=s.mqtt_ca_file,
            cert_file=s.mqtt_cert_file,
            key_file=s.mqtt_key_file,
            clean_start=False,
            session_expiry_s=s.session_expiry_s,
        )

    def _hub_state(self, online: bool) -> bytes:
        return c.HubState(online=online, ts=to_ms(self.clock.now())).model_dump_json().encode()

    async def run(self, stop: asyncio.Event) -> None:
        delays = backoff(0.5, 30.0)
        while not stop.is_set():
            try:
                await self._session(stop)
                delays = backoff(0.5, 30.0)
            except MqttError as exc:
                log.warning("hub MQTT session ended: %s", exc)
            self.connected.clear()
            self._conn = None
            if not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=next(delays))

    async def _session(self, stop: asyncio.Event) -> None:
        will = Will(c.HUB_STATE_TOPIC, self._hub_state(False))
        async with Connection(
            self._mqtt_settings(),
            will=will,
            manual_ack=True,
            max_batch=self.settings.batch_max_lines,
        ) as conn:
            self._conn = conn
            group = self.settings.share_group
            await conn.subscribe(
                *(
                    f"$share/{group}/{c.subscription(k)}"
                    for k in (c.Kind.DATA, c.Kind.EVENT, c.Kind.CMD_RESULT)
                )
            )
            await conn.subscribe(c.subscription(c.Kind.BIRTH), c.subscription(c.Kind.STATE))
            await conn.publish(c.HUB_STATE_TOPIC, self._hub_state(True), retain=True)
            self.connected.set()
            log.info("hub ingest connected (session present: %s)", conn.session_present)
            stopping = asyncio.ensure_future(stop.wait())
            try:
                while not stop.is_set():
                    getter = asyncio.ensure_future(conn.messages())
                    await asyncio.wait([getter, stopping], return_when=asyncio.FIRST_COMPLETED)
                    if not getter.done():
                        getter.cancel()
                        break
                    await self.process(conn, getter.result())
                await conn.publish(c.HUB_STATE_TOPIC, self._hub_state(False), retain=True)
            finally:
                stopping.cancel()

    # ---- the pipeline ----------------------------------------------------------------
    async def process(self, conn: Connection, messages: list[Incoming]) -> None:
        batch = _Batch()
        for msg in messages:
            self._classify(batch, msg)
        await self._write(batch.lines)
        await asyncio.to_thread(self._commit, batch)
        for msg in messages:
            if msg.qos > 0:
                conn.ack(msg.mid, msg.qos)
        for device in batch.touched:
            ack = c.Ack(device=device, seq=self.seq[device].watermark, ts=to_ms(self.clock.now()))
            conn.publish_nowait(c.topic_for(device, c.Kind.ACK), c.encode(ack), retain=True)
        if self.sink is not None and (batch.stored or batch.births or batch.states):
            await self.sink(
                [
                    *(("birth", b) for b in batch.births),
                    *(("state", s) for s in batch.states),
                    *batch.stored,
                ]
            )

    def _classify(self, batch: _Batch, msg: Incoming) -> None:
        device: str | None = None
        try:
            device, kind, message = c.decode_device_message(msg.topic, msg.payload)
            if device not in self.known and not (
                self.settings.registry_open and kind == c.Kind.BIRTH
            ):
                raise c.ContractError(  # noqa: TRY301 - one dead-letter path for every reason
                    "unknown_device", f"device {device!r} is not registered"
                )
            self.counters.messages += 1
            batch.last_seen[device] = to_ms(self.clock.now())
            if kind in (c.Kind.DATA, c.Kind.EVENT):
                self._classify_stream(batch, device, message)
            elif kind == c.Kind.BIRTH:
                self._on_birth(batch, message)
            elif kind == c.Kind.STATE:
                batch.states.append(message)
            else:
                log.info("command result from %s: %s", device, message)
        except c.ContractError as exc:
            self.counters.dead[exc.reason] += 1
            log.info("dead letter (%s) on %s: %s", exc.reason, msg.topic[:120], exc.detail)
            batch.dead.append(
                DeadLetter(
                    at=self.clock.now(),
                    topic=msg.topic[:300],
                    device_id=device,
                    reason=exc.reason,
                    detail=exc.detail[:400],
                    size=len(msg.payload),
                    payload=msg.payload[:DEAD_LETTER_PAYLOAD_BYTES],
                )
            )

    def _classify_stream(self, batch: _Batch, device: str, message: c.Data | c.Events) -> None:
        state = self.seq.setdefault(device, SeqState())
        batch.touched.add(device)
        key = (device, message.seq)
        if self.settings.dedup and (state.is_stored(message.seq) or key in batch.seen):
            self.counters.duplicates += 1
            if isinstance(message, c.Data):
                self.counters.duplicate_readings += len(message.readings)
            return
        if isinstance(message, c.Data):
            lines = reading_lines(device=device, site=message.site, readings=message.readings)
            self.counters.readings += len(message.readings)
        else:
            lines = [
                point(
                    "event",
                    {
                        "device": device,
                        "site": message.site,
                        "asset": e.asset,
                        "kind": e.kind.value,
                        "type": e.type,
                    },
                    {"active": e.active, "severity": e.severity},
                    e.t,
                )
                for e in message.events
            ]
            self.counters.events += len(message.events)
        batch.lines.extend(lines)
        batch.seen.add(key)
        batch.marks.append(key)
        batch.stored.append((device, message))

    def _on_birth(self, batch: _Batch, birth: c.Birth) -> None:
        self.known.add(birth.device)
        state = self.seq.setdefault(birth.device, SeqState())
        if birth.boot < state.boot:
            log.warning(
                "%s: boot went back %d -> %d (re-flashed?), restarting its stream",
                birth.device,
                state.boot,
                birth.boot,
            )
            state.restart(boot=birth.boot, low=birth.low)
        else:
            lost = state.floor(birth.low)
            if lost:
                self.counters.lost += lost
                log.warning(
                    "%s: %d message(s) dropped by the device before sending", birth.device, lost
                )
        state.boot = max(state.boot, birth.boot)
        batch.births.append(birth)
        batch.touched.add(birth.device)

    async def _write(self, lines: list[str]) -> None:
        if not lines:
            return
        body = ("\n".join(lines)).encode()
        delays = backoff(0.2, 10.0)
        while True:
            try:
                await self.influx.write(body, rp=self.settings.influx_raw_rp)
                return
            except InfluxError as exc:
                if not exc.retryable:
                    # A value InfluxDB refuses (e.g. a field type conflict) must not block
                    # the stream forever; the contract should have caught it, so log loudly.
                    log.error("InfluxDB refused a batch of %d lines: %s", len(lines), exc)
                    self.counters.dead["influx_rejected"] += 1
                    return
                self.counters.write_retries += 1
                log.warning("InfluxDB write failed, retrying: %s", exc)
                await asyncio.sleep(next(delays))

    def _commit(self, batch: _Batch) -> None:
        for device, seq in batch.marks:
            before = self.seq[device].gaps
            self.seq[device].mark_stored(seq)
            self.counters.gaps += self.seq[device].gaps - before
        self.counters.batches += 1
        with self.sessions.begin() as s:
            self._save_devices(s, batch)
            s.add_all(batch.dead)
            for name, value in self.counters.as_rows().items():
                s.merge(CounterRow(name=name, value=value))

    def _save_devices(self, s: Session, batch: _Batch) -> None:
        for birth in batch.births:
            dev = s.get(Device, birth.device) or Device(id=birth.device)
            dev.site, dev.firmware, dev.device_class = (
                birth.site,
                birth.firmware,
                birth.device_class,
            )
            dev.heartbeat_s = birth.heartbeat_s
            s.add(dev)
            for a in birth.assets:
                s.merge(
                    Asset(
                        id=a.id,
                        device_id=birth.device,
                        kind=a.kind.value,
                        lat=a.lat,
                        lon=a.lon,
                        cabinet=a.cabinet,
                        address=a.address,
                        properties=dict(a.properties),
                    )
                )
        s.flush()
        for device in batch.touched | set(batch.last_seen):
            st = self.seq.get(device, SeqState())
            values: dict[str, Any] = {
                "watermark": st.watermark,
                "above": {"seqs": sorted(st.above)},
                "gaps": st.gaps,
                "lost": st.lost,
                "boot": st.boot,
            }
            if device in batch.last_seen:
                values["last_seen"] = from_ms(batch.last_seen[device])
            s.execute(update(Device).where(Device.id == device).values(**values))
