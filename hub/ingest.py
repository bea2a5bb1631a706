"""Hub ingest: MQTT -> validate -> de-duplicate -> InfluxDB (or spool), acking only what is stored.

Three stages joined by bounded queues, so classifying batch N+2, writing batch N+1 and
committing batch N overlap while memory stays bounded (the broker sends at most
``receive_maximum`` un-acknowledged messages, and a full queue stops us taking more):

1. *consume*: take what paho received (up to ``batch_max_lines`` lines or
   ``batch_max_delay_s``), validate and de-duplicate it (:mod:`hub.ingest_batch`);
   rejects become dead letters;
2. *write*: write the batch's lines to InfluxDB; points it refuses for their content become
   dead letters (:mod:`hub.influx_batch`); if it does not store the batch for any other
   reason (down, database missing, credentials refused; :mod:`hub.influx_answer`), to the
   bounded local spool (:mod:`hub.spool`); if the spool is full too, retry with back-off and
   acknowledge nothing meanwhile, so back-pressure reaches the broker and the devices' outboxes;
3. *commit*: commit watermarks, device state, dead letters and counters to SQL in one
   transaction,
   PUBACK the batch, send each device its end-to-end :class:`~trygg.contract.Ack` and
   request a rebirth from devices with new sequence gaps (:mod:`hub.device_replies`), and
   hand the stored items to the sink.

The sink (the rules engine) receives :data:`hub.rules.inputs.RuleInput` records, made once
here: stored births and streams, the liveness owner's (:mod:`hub.device_state`) transitions,
the heartbeat tick's included, and the hub's own link changes. The sink runs behind
the commit stage through a bounded queue, so the rules never set the drain rate of a
replayed backlog unless they fall more than ``_SINK_DEPTH`` batches behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from hub import ingest_gc, ingest_poison
from hub.asset_owners import AssetOwners
from hub.attention_monitor import AttentionMonitor
from hub.device_replies import DeviceReplies
from hub.device_state import DeviceStates, Transition, parse_class_timeouts
from hub.influx import Influx, InfluxError, InfluxWriteError
from hub.influx_batch import DEAD_LETTER_REASON, RefusedLine, dead_letters, write_lines
from hub.ingest_backlog import Backlog
from hub.ingest_batch import Batch, Classifier, Draft, Rejected
from hub.ingest_store import BatchWrite, IngestStore, load
from hub.metrics import IngestCounters, IngestGauges, influx_line, make_registry
from hub.rules.inputs import Born, FleetSilent, LinkChanged, Liveness, RuleInput
from hub.sequences import Sequences
from hub.settings import HubSettings
from hub.spool import Spool
from hub.storage_health import StorageHealth
from trygg import contract as c
from trygg.clock import Clock, to_ms
from trygg.mqtt import Connection, Incoming, MqttError, Will, backoff

log = logging.getLogger(__name__)

Items = list[RuleInput]
Sink = Callable[[Items], Awaitable[None]]
_PIPELINE_DEPTH = 4
# InfluxDB writes in flight at once: a 5000-line write spends most of its time waiting on
# InfluxDB, so two overlap that wait.
_WRITERS = 2
# Queued batches written together at most (5000 lines each by default).
_WRITE_BATCHES = 4
# Written batches committed in one SQL transaction at most: all that the write stage has
# handed on. A commit's cost is mostly its device rows (in a thread that shares the
# interpreter lock with the event loop), nearly the same for one batch as for eight, so a
# replay commits as few times as the pipeline allows.
_COMMIT_BATCHES = _WRITERS * _WRITE_BATCHES
# Messages taken from paho per step; a batch is several steps, up to batch_max_lines lines.
_STEP_MESSAGES = 250
# Messages read from the socket ahead of the consumer at most (see Connection): a replayed
# session's backlog is read as it is classified, not all at once ahead of everything else.
_READ_AHEAD = 2000
# Batches waiting for the rules. Rules run behind ingest (a replayed backlog must not be
# throttled to the rules' pace) but boundedly: a full queue holds the store stage back.
_SINK_DEPTH = 16
# Re-creating the schema after InfluxDB said it is missing: at most this often.
_SCHEMA_AGAIN_S = 1.0


@dataclass(frozen=True, slots=True)
class _Work:
    """A classified batch on its way from the consume stage to the write stage."""

    messages: list[Incoming]
    batch: Batch
    token: int | None = None  # in the backlog until handled


@dataclass(frozen=True, slots=True)
class Written:
    """What one write of one or more batches came to."""

    stored: bool  # InfluxDB or the spool has the lines
    refused: list[Rejected]  # dead letters of points InfluxDB refused for their content
    retries: int = 0
    spooled: bool = False


@dataclass(frozen=True, slots=True)
class _Writing:
    """A batch whose write has started, on its way to the commit stage."""

    work: _Work
    started: float
    write: asyncio.Future[Written]
    # The write's outcome is counted with the first batch of those written together.
    counts_write: bool


class Ingest:
    def __init__(
        self,
        *,
        settings: HubSettings,
        sessions: sessionmaker[Session],
        influx: Influx,
        clock: Clock,
        sink: Sink | None = None,
        attention: AttentionMonitor | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.influx = influx
        self.clock = clock
        self.sink = sink
        self.counters = IngestCounters()
        self.gauges = IngestGauges()
        self.sequences = Sequences()
        self.owners = AssetOwners(
            is_known=self.sequences.is_known, max_per_device=settings.max_assets_per_device
        )
        # What the hub received but has not handled is not heard yet (hub.attention).
        self.attention = attention or AttentionMonitor(clock=clock)
        self.backlog = Backlog()
        self.attention.watch(self._oldest_unheard)
        self.classifier = Classifier(
            sequences=self.sequences,
            dedup=settings.dedup,
            registry_open=settings.registry_open,
            owners=self.owners,
        )
        self.states = DeviceStates(
            started_ms=to_ms(clock.now()),
            grace_s=settings.offline_grace_s,
            class_timeouts_s=parse_class_timeouts(settings.heartbeat_timeouts),
            attention=self.attention.attention,
        )
        self.store = IngestStore(sessions, dead_letter_max=settings.dead_letter_max)
        self.registry = make_registry(lambda: self.counters, lambda: self.gauges)
        self.connected = asyncio.Event()
        self.spool: Spool | None = None
        self.health = StorageHealth()
        self._schema_lock = asyncio.Lock()
        self._schema_at = float("-inf")
        self._store_lock = asyncio.Lock()
        self._conn: Connection | None = None
        self._unacked = 0
        self._oldest_unstored: list[int] = []
        # Items for the rules, with the backlog token of the batch they come from.
        self._sink_queue: asyncio.Queue[tuple[Items, int | None]] = asyncio.Queue(_SINK_DEPTH)
        self.replies = DeviceReplies(
            watermark=self.sequences.watermark,
            clock=clock,
            rebirth_interval_s=settings.rebirth_interval_s,
            connection=lambda: self._conn,
        )

    # ---- start-up --------------------------------------------------------------------
    def load(self) -> None:
        """Known devices, their watermarks, state and the counters, from SQL; the spool."""
        loaded = load(self.sessions)
        self.sequences.load(loaded.known, loaded.seq)
        self.owners.load(loaded.owned)
        self.states.load(loaded.statuses)
        self.counters = loaded.counters
        name = f"{self.settings.influx_db}-{self.settings.client_id}"
        self.spool = Spool(
            Path(self.settings.spool_dir) / name, max_bytes=self.settings.spool_max_bytes
        )
        if len(self.spool):
            log.info("spool holds %d batch(es) from before; replaying", len(self.spool))

    # ---- MQTT ------------------------------------------------------------------------
    def _hub_state(self, online: bool) -> bytes:
        return c.HubState(online=online, ts=to_ms(self.clock.now())).model_dump_json().encode()

    async def run(self, stop: asyncio.Event, *, ready: asyncio.Event | None = None) -> None:
        """Ingest until ``stop``. Start-up overlaps: the state is loaded from SQL while the
        InfluxDB schema is made sure of and then the broker connection opened, so a
        persistent session's backlog streams in meanwhile; nothing is classified before
        the state is loaded and, given ``ready``, the caller's own start-up is done."""
        schema = asyncio.ensure_future(self._ensure_schema())
        starting = asyncio.ensure_future(self._start(schema, ready))
        try:
            with contextlib.ExitStack() as tuning:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._mqtt_loop(stop, schema, starting), name="ingest-mqtt")
                    await starting
                    # What start-up loaded is long-lived: frozen out of the collector's scans.
                    tuning.enter_context(ingest_gc.tuned())
                    tg.create_task(self._spool_loop(stop), name="ingest-spool")
                    tg.create_task(self._tick_loop(stop), name="ingest-tick")
                    tg.create_task(self._gauge_loop(stop), name="ingest-gauges")
                    tg.create_task(self._sink_loop(stop), name="ingest-sink")
        finally:
            schema.cancel()
            starting.cancel()
            self.replies.close()

    async def _ensure_schema(self) -> None:
        if self.settings.influx_manage_schema:
            await self.influx.ensure_schema(
                raw_rp=self.settings.influx_raw_rp,
                raw_retention=self.settings.influx_raw_retention,
            )

    def storage_problem(self) -> str | None:
        """None while InfluxDB stores what the hub writes; else why not, in words (the
        hub then keeps the data: spool, then no acknowledgements)."""
        return self.health.problem()

    async def _write_raw(self, body: bytes) -> None:
        await self.influx.write(body, rp=self.settings.influx_raw_rp)

    def _stored(self) -> None:
        self.health.stored()
        self.gauges.storage_problem = False

    def _not_stored(self, exc: InfluxWriteError) -> None:
        self.health.not_stored(exc.answer, now_ms=to_ms(self.clock.now()))
        self.gauges.storage_problem = self.health.problem() is not None

    async def _schema_again(self) -> bool:
        """Re-create the database and retention policies InfluxDB said are missing (one
        attempt at a time, at most one a second); True when they may exist now."""
        if not self.settings.influx_manage_schema:
            return False
        loop = asyncio.get_running_loop()
        async with self._schema_lock:
            if loop.time() - self._schema_at < _SCHEMA_AGAIN_S:
                return True
            self._schema_at = loop.time()
            try:
                await self._ensure_schema()
            except InfluxError as exc:
                log.warning("InfluxDB schema could not be re-created: %s", exc)
                return False
            log.info("InfluxDB database/retention policies were missing: re-created")
            return True

    async def _start(self, schema: asyncio.Future[None], ready: asyncio.Event | None) -> None:
        if self.spool is None:
            await asyncio.to_thread(self.load)
        await asyncio.shield(schema)
        if ready is not None:
            await ready.wait()

    def _oldest_unheard(self) -> float | None:
        """When the oldest message received but not handled yet arrived (monotonic)."""
        conn = self._conn
        waiting = conn.waiting_since() if conn is not None else None
        oldest = self.backlog.oldest()
        return waiting if oldest is None else oldest if waiting is None else min(oldest, waiting)

    async def _link(self, *, up: bool) -> None:
        """Our own broker link changed: device state and the rules must not read the
        silence of a hub that hears nobody as devices going offline."""
        if up == self.states.link_up:
            return
        self.states.link(up=up, now_ms=to_ms(self.clock.now()))
        if self.sink is not None:
            await self._sink_queue.put(([LinkChanged(up=up)], None))

    async def _mqtt_loop(
        self, stop: asyncio.Event, schema: asyncio.Future[None], starting: asyncio.Future[None]
    ) -> None:
        # The schema first: nothing received could be stored before it.
        await asyncio.shield(schema)
        delays = backoff(0.5, 30.0)
        while not stop.is_set():
            try:
                await self._session(stop, starting)
                delays = backoff(0.5, 30.0)
            except MqttError as exc:
                log.warning("hub MQTT session ended: %s", exc)
            self.connected.clear()
            self.gauges.connected = False
            self._conn = None
            await self._link(up=False)
            if not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=next(delays))

    async def _session(self, stop: asyncio.Event, starting: asyncio.Future[None]) -> None:
        will = Will(c.HUB_STATE_TOPIC, self._hub_state(False))
        async with Connection(
            self.settings.broker(),
            will=will,
            manual_ack=True,
            max_batch=_STEP_MESSAGES,
            read_ahead=_READ_AHEAD,
        ) as conn:
            # Received meanwhile is held (un-acknowledged) in the connection's inbox.
            await asyncio.shield(starting)
            self._conn = conn
            # Whatever was classified but not stored is re-delivered by the broker.
            self.sequences.forget_pending()
            self._unacked = 0
            self._oldest_unstored.clear()
            self.backlog.clear()
            await self._link(up=True)
            queue: asyncio.Queue[_Work | None] = asyncio.Queue(maxsize=_PIPELINE_DEPTH)
            error: MqttError | None = None
            written: asyncio.Queue[_Writing | None] = asyncio.Queue(_COMMIT_BATCHES)
            async with asyncio.TaskGroup() as tg:
                # A persistent session's backlog streams in right after the CONNACK, ahead
                # of the SUBACK: it is classified while the subscriptions are confirmed.
                announce = tg.create_task(self._announce(conn), name="ingest-announce")
                tg.create_task(self._write_stage(queue, written, stop), name="ingest-write")
                tg.create_task(self._commit_stage(conn, written), name="ingest-commit")
                try:
                    await self._consume(conn, queue, stop)
                except MqttError as exc:
                    error = exc
                await queue.put(None)
                announce.cancel()
            if error is None and not announce.cancelled():
                error = announce.result()
            if error is not None:
                raise error
            with contextlib.suppress(MqttError, TimeoutError):
                await asyncio.wait_for(
                    conn.publish(c.HUB_STATE_TOPIC, self._hub_state(False), retain=True), 5
                )

    async def _announce(self, conn: Connection) -> MqttError | None:
        """Subscribe and publish our retained state; then ``connected`` is set. A failure
        drops the connection (so the consumer ends) and is returned."""
        group = self.settings.share_group
        try:
            await conn.subscribe(
                *(
                    f"$share/{group}/{c.subscription(k)}"
                    for k in (c.Kind.DATA, c.Kind.EVENT, c.Kind.CMD_RESULT)
                )
            )
            await conn.subscribe(c.subscription(c.Kind.BIRTH), c.subscription(c.Kind.STATE))
            await conn.publish(c.HUB_STATE_TOPIC, self._hub_state(True), retain=True)
        except (MqttError, TimeoutError) as exc:
            error = exc if isinstance(exc, MqttError) else MqttError(f"no SUBACK/PUBACK: {exc}")
            conn.abort(str(error))
            return error
        self.connected.set()
        self.gauges.connected = True
        log.info("hub ingest connected (session present: %s)", conn.session_present)
        return None

    # ---- stage 1: consume and classify -----------------------------------------------
    async def _consume(
        self, conn: Connection, queue: asyncio.Queue[_Work | None], stop: asyncio.Event
    ) -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                waiting = conn.waiting_since()
                getter = asyncio.ensure_future(conn.messages())
                await asyncio.wait([getter, stopping], return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    return
                messages = getter.result()
                token = self.backlog.enter(loop.time() if waiting is None else waiting)
                draft = Draft(received_ms=to_ms(self.clock.now()))
                self._classify(draft, messages)
                deadline = loop.time() + self.settings.batch_max_delay_s
                while len(draft.lines) < self.settings.batch_max_lines and not stop.is_set():
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        more = await asyncio.wait_for(conn.messages(), timeout=remaining)
                    except TimeoutError:
                        break
                    self._classify(draft, more)
                    messages += more
                self._unacked += len(messages)
                self._oldest_unstored.append(draft.received_ms)
                self.gauges.queue_depth = self._unacked
                await queue.put(_Work(messages, draft.seal(), token=token))
        finally:
            stopping.cancel()

    def _classify(self, batch: Draft, messages: list[Incoming]) -> None:
        self.classifier.classify(batch, ((m.topic, m.payload, m.retain) for m in messages))

    # ---- stage 2: store, commit, acknowledge -----------------------------------------
    async def _write_stage(
        self,
        queue: asyncio.Queue[_Work | None],
        written: asyncio.Queue[_Writing | None],
        stop: asyncio.Event,
    ) -> None:
        """Write batches to InfluxDB (or the spool), up to ``_WRITERS`` writes at once; the
        commit stage takes the results in order. Batches that queued up while InfluxDB was
        busy go out together as one write (up to ``_WRITE_BATCHES``), so a slow InfluxDB
        gets fewer, larger writes instead of a longer queue."""
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(_WRITERS)
        inflight: set[asyncio.Task[Written]] = set()
        end = False
        try:
            while not end:
                work = await queue.get()
                if work is None:
                    break
                await slots.acquire()
                works = [work]
                while len(works) < _WRITE_BATCHES and not queue.empty():
                    more = queue.get_nowait()
                    if more is None:
                        end = True
                        break
                    works.append(more)
                started = loop.time()
                task = asyncio.create_task(self._write_slot([w.batch for w in works], stop, slots))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
                for i, w in enumerate(works):
                    await written.put(_Writing(w, started, task, counts_write=i == 0))
        except asyncio.CancelledError:
            for task in inflight:
                task.cancel()
            raise
        finally:
            await written.put(None)

    async def _write_slot(
        self, batches: list[Batch], stop: asyncio.Event, slots: asyncio.Semaphore
    ) -> Written:
        try:
            lines = [line for batch in batches for line in batch.lines]
            if not lines:
                return Written(stored=True, refused=[])
            return await self._write(lines, batches[0].received_ms, stop)
        finally:
            slots.release()

    async def _commit_stage(
        self, conn: Connection, written: asyncio.Queue[_Writing | None]
    ) -> None:
        """Commit, acknowledge (broker, then devices) and feed the rules, in order."""
        loop = asyncio.get_running_loop()
        abandoned = False
        end = False
        while not end:
            first = await written.get()
            if first is None:
                break
            # Batches already written while the previous commit ran share one transaction.
            writings = [first]
            while len(writings) < _COMMIT_BATCHES and not written.empty():
                more = written.get_nowait()
                if more is None:
                    end = True
                    break
                writings.append(more)
            results = [await w.write for w in writings]
            stored = [r.stored for r in results]
            if abandoned or not all(stored):
                # Stopping while neither InfluxDB nor the spool took a batch: leave it and
                # all after it un-acknowledged, for the broker to re-deliver.
                kept = 0 if abandoned else stored.index(False)
                writings, results = writings[:kept], results[:kept]
                abandoned = True
                if not writings:
                    continue
            works = [w.work for w in writings]
            outcomes = [
                r if w.counts_write else None for w, r in zip(writings, results, strict=True)
            ]
            transitions = await self._commit([w.batch for w in works], outcomes)
            for w in works:
                conn.ack_many(w.messages)
                self._unacked -= len(w.messages)
                if self._oldest_unstored:
                    self._oldest_unstored.pop(0)
            for w in works:
                self.replies.acknowledge(conn, w.batch.touched)
            self.gauges.queue_depth = self._unacked
            self.gauges.last_batch_s = loop.time() - writings[-1].started
            for i, w in enumerate(works):
                await self._feed(w.batch, transitions if i == len(works) - 1 else [], w.token)

    async def _write(self, lines: list[str], received_ms: int, stop: asyncio.Event) -> Written:
        """InfluxDB, else the spool, else retry; not stored only when stopping meanwhile.
        ``received_ms`` (of the oldest batch of the lines) dates the spooled copy."""
        delays = backoff(0.2, 5.0)
        assert self.spool is not None
        schema_tried = False
        retries = 0
        while True:
            try:
                refused = await write_lines(self._write_raw, lines)
            except InfluxWriteError as exc:
                self._not_stored(exc)
                if exc.answer.schema_missing and not schema_tried and await self._schema_again():
                    schema_tried = True
                    continue
                retries += 1
                body = "\n".join(lines).encode()
                if await asyncio.to_thread(self.spool.put, body, created_ms=received_ms):
                    log.info("InfluxDB did not store a batch (%s): spooled", exc)
                    return Written(stored=True, refused=[], retries=retries, spooled=True)
                log.warning("InfluxDB did not store a batch and spool full: not acknowledging")
            else:
                self._stored()
                dead = self._refused(refused) if refused else []
                return Written(stored=True, refused=dead, retries=retries)
            if stop.is_set():
                return Written(stored=False, refused=[], retries=retries)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=next(delays))
            schema_tried = False

    def _refused(self, refused: list[RefusedLine]) -> list[Rejected]:
        log.warning(
            "InfluxDB refused %d point(s) for their content, dead-lettered: %s",
            len(refused),
            refused[0].message,
        )
        return dead_letters(refused, at_ms=to_ms(self.clock.now()))

    async def _commit(self, batches: list[Batch], writes: list[Written | None]) -> list[Transition]:
        """Advance watermarks and device state for stored batches; persist them (and the
        counters, dead letters and births) in one SQL transaction. ``writes[i]`` is the
        outcome of the write counted with ``batches[i]`` (None: counted with another)."""
        now_ms = to_ms(self.clock.now())
        transitions: list[Transition] = []
        states, sequences, counters = self.states, self.sequences, self.counters
        gaps: dict[str, int] = {}
        changed: set[str] = set()
        rejected: list[Rejected] = []
        for batch, written in zip(batches, writes, strict=True):
            new_gaps = sequences.advance(batch.marks)
            transitions += states.observe(
                births=batch.births, states=batch.states, seen=batch.seen, now_ms=now_ms
            )
            for device, n in new_gaps.items():
                states.on_gap(device=device, now_ms=now_ms, count=n)
                gaps[device] = gaps.get(device, 0) + n
            for device, (depth, dropped) in batch.outbox.items():
                states.on_outbox(device=device, depth=depth, dropped=dropped)
            counters.add(batch.delta)
            counters.gaps += sum(new_gaps.values())
            changed |= batch.touched
            changed.update(batch.seen)
            changed.update(st.device for st in batch.states)
            rejected += batch.rejected
            if written is not None:
                counters.write_retries += written.retries
                counters.spooled_batches += written.spooled
                counters.dead[DEAD_LETTER_REASON] += len(written.refused)
                rejected += written.refused
        write = BatchWrite(
            births=[b for batch in batches for b in batch.births],
            devices={
                d: (sequences.row(d), states.get(d)) for d in changed if sequences.is_known(d)
            },
            rejected=rejected,
            counters=counters.as_rows(),
        )
        async with self._store_lock:
            poison = await asyncio.to_thread(ingest_poison.write, self.store, write, at_ms=now_ms)
        if poison:
            counters.dead[ingest_poison.REASON] += len(poison)
        # New gaps, and gaps still open: the request or the re-send it causes may be lost.
        open_gaps = {d for d in changed if sequences.has_hole(d)}
        counters.rebirths_requested += self.replies.request_rebirths(
            open_gaps | gaps.keys(), now_ms
        )
        return transitions

    async def _feed(self, batch: Batch, transitions: list[Transition], token: int | None) -> None:
        if self.sink is None:
            self.backlog.leave(token)
            return
        items: Items = [
            *(Born(b) for b in batch.births),
            *batch.stored,
            *(Liveness(t.status) for t in transitions),
        ]
        if items:
            await self._sink_queue.put((items, token))
        else:
            self.backlog.leave(token)

    async def _sink_loop(self, stop: asyncio.Event) -> None:
        """Feed the rules in order; on stop, drain what is queued (it is stored already)."""
        while True:
            getter = asyncio.ensure_future(self._sink_queue.get())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait([getter, stopping], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not getter.done():
                getter.cancel()
                break
            await self._sink(*getter.result())
        while not self._sink_queue.empty():
            await self._sink(*self._sink_queue.get_nowait())

    async def _sink(self, items: Items, token: int | None) -> None:
        assert self.sink is not None
        try:
            await self.sink(items)
        except Exception:  # a rules bug must not stop ingest; logged with its traceback
            log.exception("rules sink failed on %d item(s)", len(items))
        finally:
            self.backlog.leave(token)

    # ---- background: spool replay, heartbeat tick, self-metrics ------------------------
    async def _spool_loop(self, stop: asyncio.Event) -> None:
        delays = backoff(0.5, 10.0)
        while not stop.is_set():
            spool = self.spool
            head = await asyncio.to_thread(spool.peek) if spool is not None else None
            if spool is not None:
                self.gauges.spool_bytes, self.gauges.spool_batches = spool.size_bytes, len(spool)
            if head is None or spool is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                continue
            segment, body = head
            # A damaged file must not stop the loop: what InfluxDB cannot parse is dead-lettered.
            lines = body.decode(errors="replace").split("\n")
            try:
                refused = await write_lines(self._write_raw, lines)
            except InfluxWriteError as exc:
                # Kept, whatever InfluxDB's reason: only a write that stored it removes it.
                self._not_stored(exc)
                if exc.answer.schema_missing:
                    await self._schema_again()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=next(delays))
                continue
            self._stored()
            if refused:
                await self._spool_dead_letters(refused)
            await asyncio.to_thread(spool.remove, segment)
            delays = backoff(0.5, 10.0)

    async def _spool_dead_letters(self, refused: list[RefusedLine]) -> None:
        """Persist the dead letters of a spooled batch's refused points before the batch
        leaves the spool."""
        self.counters.dead[DEAD_LETTER_REASON] += len(refused)
        write = BatchWrite(
            births=[], devices={}, rejected=self._refused(refused), counters=self.counters.as_rows()
        )
        async with self._store_lock:
            await asyncio.to_thread(self.store.write, write)

    async def _tick_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.tick_s)
            await self.tick()

    async def tick(self) -> list[Transition]:
        """Declare silent devices offline (heartbeat timeout); persist and feed the sink."""
        self.attention.observe()  # a stall just ended is on record before silence is judged
        now_ms = to_ms(self.clock.now())
        silences = self.states.mass_silences
        transitions = self.states.tick(now_ms)
        items: Items = [Liveness(t.status) for t in transitions]
        if self.states.mass_silences != silences:
            log.warning(
                "most of %d devices silent at once: a hub, broker or network cause, "
                "not device faults; restarting the silence clock",
                len(self.states.devices),
            )
            items.append(FleetSilent(at_ms=now_ms))
        self.gauges.stalled_s = self.attention.stalled_s
        online = sum(1 for s in self.states.devices.values() if s.online)
        self.gauges.devices_online = online
        self.gauges.devices_offline = sum(
            1 for s in self.states.devices.values() if s.online is False
        )
        oldest = [*self._oldest_unstored]
        if self.spool is not None and (spooled := self.spool.oldest_ms()) is not None:
            oldest.append(spooled)
        self.gauges.oldest_unsent_s = (now_ms - min(oldest)) / 1000 if oldest else 0.0
        for t in transitions:
            log.info("%s: %s (%s)", t.status.device, t.kind, t.status.reason)
        if transitions:
            await asyncio.to_thread(self.store.states, [t.status for t in transitions])
        if items and self.sink is not None:
            await self._sink_queue.put((items, None))
        return transitions

    async def _gauge_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.gauges_s)
            line = influx_line(self.counters, self.gauges, to_ms(self.clock.now()))
            try:
                await self._write_raw(line.encode())
            except InfluxWriteError as exc:
                log.debug("self-metrics not written: %s", exc)
                self._not_stored(exc)
                if exc.answer.schema_missing:
                    await self._schema_again()
            else:
                self._stored()
