"""Hub ingest: MQTT -> validate -> de-duplicate -> InfluxDB (or spool), acking only what is stored.

Three stages joined by bounded queues, so classifying batch N+2, writing batch N+1 and
committing batch N overlap while memory stays bounded (the broker sends at most
``receive_maximum`` un-acknowledged messages, and a full queue stops us taking more):

1. *consume*: take what the MQTT connection received (up to ``batch_max_lines`` lines or
   ``batch_max_delay_s``), validate and de-duplicate it (:mod:`hub.ingest_batch`);
   rejects become dead letters;
2. *write*: write the batch's lines to InfluxDB, else to the local spool, else retry and
   acknowledge nothing meanwhile, so back-pressure reaches the broker and the devices'
   outboxes (:mod:`hub.ingest_write`);
3. *commit*: advance the sequence watermarks (:mod:`hub.sequences`), commit them, device
   state, dead letters and counters to SQL in one transaction, PUBACK the batch, send each
   device its end-to-end :class:`~trygg.contract.Ack` and request a rebirth from devices
   with new sequence gaps (:mod:`hub.device_replies`), and hand the stored items to the sink.

The stages hand each other frozen records (a sealed :class:`~hub.ingest_batch.Batch`, the
:class:`~hub.ingest_write.Written` outcome of its write); what changes lives in the object
that owns it.

The sink (the rules engine) receives :data:`hub.rules.inputs.RuleInput` records, made once
here: stored births and streams, the liveness owner's (:mod:`hub.device_state`) transitions,
the heartbeat tick's included, and the hub's own link changes; it runs behind the commit
stage (:mod:`hub.ingest_feed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub import ingest_gc, ingest_poison, registry, strangers
from hub.asset_owners import AssetOwners
from hub.attention_monitor import AttentionMonitor
from hub.device_replies import DeviceReplies
from hub.device_state import DeviceStates, Transition, parse_class_timeouts
from hub.influx import Influx
from hub.influx_batch import DEAD_LETTER_REASON
from hub.ingest_backlog import Backlog
from hub.ingest_batch import Batch, Classifier, Draft, Rejected
from hub.ingest_feed import Items, RulesFeed, Sink
from hub.ingest_store import BatchWrite, IngestStore, load
from hub.ingest_write import Writer, Written
from hub.metrics import IngestCounters, IngestGauges, influx_line, make_registry
from hub.partition_scope import LeaseLostError, PartitionScope
from hub.registry_watch import RegistryWatch
from hub.rules.inputs import Born, FleetSilent, LinkChanged, Liveness
from hub.sequences import Sequences
from hub.settings import HubSettings
from trygg import contract as c
from trygg.backoff import Backoff
from trygg.clock import Clock, from_ms, to_ms
from trygg.mqtt import Connection, Incoming, MqttError, MqttSession, Will

log = logging.getLogger(__name__)

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
# Messages taken from the connection per step; a batch is several steps, up to batch_max_lines lines.
_STEP_MESSAGES = 250
# Messages read from the socket ahead of the consumer at most (see Connection): a replayed
# session's backlog is read as it is classified, not all at once ahead of everything else.
_READ_AHEAD = 2000
# Topic filters in one SUBSCRIBE at most, when a partition subscribes its devices.
_SUBSCRIBE_CHUNK = 200


@dataclass(frozen=True, slots=True)
class _Work:
    """A classified batch on its way from the consume stage to the write stage."""

    messages: list[Incoming]
    batch: Batch
    token: int | None = None  # in the backlog until handled


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
        scope: PartitionScope | None = None,
    ) -> None:
        # One partition's ingest has the partition's own persistent MQTT session (and spool).
        if scope is not None:
            settings = settings.model_copy(update={"client_id": scope.client_id})
        self.scope = scope
        self.settings = settings
        self.sessions = sessions
        self.influx = influx
        self.clock = clock
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
        self.store = IngestStore(
            sessions,
            dead_letter_max=settings.dead_letter_max,
            fence=scope.fence if scope is not None else None,
            counter_prefix=scope.counter_prefix if scope is not None else "",
        )
        self.registry = make_registry(lambda: self.counters, lambda: self.gauges)
        self.connected = asyncio.Event()
        self.writer = Writer(influx=influx, settings=settings, clock=clock, gauges=self.gauges)
        self._store_lock = asyncio.Lock()
        self._conn: MqttSession | None = None
        self._unacked = 0
        self._oldest_unstored: list[int] = []
        self.feed = RulesFeed(sink, self.backlog)
        self.replies = DeviceReplies(
            watermark=self.sequences.watermark,
            clock=clock,
            rebirth_interval_s=settings.rebirth_interval_s,
            connection=lambda: self._conn,
        )
        self.registry_watch = RegistryWatch(
            sessions=sessions, apply=self.apply_registry, poll_s=settings.registry_poll_s
        )

    # ---- start-up --------------------------------------------------------------------
    def load(self) -> None:
        """Known devices, their watermarks, state and the counters, from SQL; the spool."""
        scope = self.scope
        if scope is None:
            loaded = load(self.sessions)
        else:
            loaded = load(
                self.sessions,
                selects=lambda d, site, cabinets: scope.owns(d, site=site, cabinets=cabinets),
                counter_prefix=scope.counter_prefix,
            )
            scope.devices = set(loaded.seq)
        self.sequences.load(loaded.known, loaded.seq)
        self.owners.load(loaded.owned)
        self.apply_registry(self.registry_watch.load())
        self.states.load(loaded.statuses)
        self.counters = loaded.counters
        self.writer.open_spool()

    def apply_registry(self, snap: registry.Snapshot) -> None:
        """A registry change, live: who is known, who is blocked, who owns which asset.
        Devices known from now on are asked for a birth: the one they sent before was
        refused, and their assets are learnt from it."""
        added = {d for d in snap.known if not self.sequences.is_known(d)}
        if self.scope is not None:
            added &= self.scope.devices  # another partition's devices are its own to ask
        self.sequences.admit(snap.known, keep=self.settings.registry_open)
        self.owners.load(snap.owned)
        self.classifier.blocked = snap.blocked
        if added and self._conn is not None:
            self.counters.rebirths_requested += self.replies.request_rebirths(
                added, to_ms(self.clock.now())
            )

    # ---- MQTT ------------------------------------------------------------------------
    def _hub_state(self, online: bool) -> bytes:
        return c.HubState(online=online, ts=to_ms(self.clock.now())).model_dump_json().encode()

    async def run(self, stop: asyncio.Event, *, ready: asyncio.Event | None = None) -> None:
        """Ingest until ``stop``. Start-up overlaps: the state is loaded from SQL while the
        InfluxDB schema is made sure of and then the broker connection opened, so a
        persistent session's backlog streams in meanwhile; nothing is classified before
        the state is loaded and, given ``ready``, the caller's own start-up is done."""
        schema = asyncio.ensure_future(self.writer.ensure_schema())
        starting = asyncio.ensure_future(self._start(schema, ready))
        try:
            with contextlib.ExitStack() as tuning:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._mqtt_loop(stop, schema, starting), name="ingest-mqtt")
                    await starting
                    # What start-up loaded is long-lived: frozen out of the collector's scans.
                    tuning.enter_context(ingest_gc.tuned())
                    tg.create_task(
                        self.writer.replay(stop, self._spool_dead_letters), name="ingest-spool"
                    )
                    tg.create_task(self._tick_loop(stop), name="ingest-tick")
                    tg.create_task(self.registry_watch.run(stop), name="ingest-registry")
                    tg.create_task(self._gauge_loop(stop), name="ingest-gauges")
                    tg.create_task(self.feed.run(stop), name="ingest-sink")
                    if self.scope is not None:
                        # A taken-over partition's device states as its last holder committed
                        # them: the rules may not have seen the last transitions (a holder
                        # stalled between its commit and its rules); they are idempotent.
                        await self.feed.put(
                            [
                                Liveness(st)
                                for st in self.states.devices.values()
                                if st.online is not None
                            ]
                        )
        finally:
            schema.cancel()
            starting.cancel()
            self.replies.close()

    def storage_problem(self) -> str | None:
        """None while InfluxDB stores what the hub writes; else why not, in words (the
        hub then keeps the data: spool, then no acknowledgements)."""
        return self.writer.problem()

    async def _start(self, schema: asyncio.Future[None], ready: asyncio.Event | None) -> None:
        if self.writer.spool is None:
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
        await self.feed.put([LinkChanged(up=up)])

    async def _mqtt_loop(
        self, stop: asyncio.Event, schema: asyncio.Future[None], starting: asyncio.Future[None]
    ) -> None:
        # The schema first: nothing received could be stored before it.
        await asyncio.shield(schema)
        retry = Backoff(0.5, 30.0)
        while not stop.is_set():
            # A lost lease must not take the partition's session back from its new holder.
            if self.scope is not None and not await asyncio.to_thread(self.scope.still_held):
                raise LeaseLostError(f"{self.scope.lease.name} is no longer ours")
            try:
                await self._session(stop, starting)
                retry.reset()
            except MqttError as exc:
                log.warning("hub MQTT session ended: %s", exc)
            self.connected.clear()
            self.gauges.connected = False
            self._conn = None
            await self._link(up=False)
            if not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=retry.next_delay())

    async def _session(self, stop: asyncio.Event, starting: asyncio.Future[None]) -> None:
        # One partition's session ending says nothing of the city's other hubs: no will.
        will = Will(c.HUB_STATE_TOPIC, self._hub_state(False)) if self.scope is None else None
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
            if self.scope is not None:
                return
            with contextlib.suppress(MqttError, TimeoutError):
                await asyncio.wait_for(
                    conn.publish(c.HUB_STATE_TOPIC, self._hub_state(False), retain=True), 5
                )

    async def _announce(self, conn: MqttSession) -> MqttError | None:
        """Subscribe and publish our retained state; then ``connected`` is set. A failure
        drops the connection (so the consumer ends) and is returned."""
        group = self.settings.share_group
        try:
            if self.scope is None:
                await conn.subscribe(
                    *(
                        f"$share/{group}/{c.subscription(k)}"
                        for k in (c.Kind.DATA, c.Kind.EVENT, c.Kind.CMD_RESULT)
                    )
                )
                await conn.subscribe(c.subscription(c.Kind.BIRTH), c.subscription(c.Kind.STATE))
            else:
                # Births come to every partition: a device never seen before is placed by
                # its birth; then its own topics join the partition's session.
                await conn.subscribe(c.subscription(c.Kind.BIRTH))
                await self._subscribe(conn, self.scope.devices)
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
        self, conn: MqttSession, queue: asyncio.Queue[_Work | None], stop: asyncio.Event
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
                await self._resubscribe(conn, left=draft.left)
                self._unacked += len(messages)
                self._oldest_unstored.append(draft.received_ms)
                self.gauges.queue_depth = self._unacked
                await queue.put(_Work(messages, draft.seal(), token=token))
        finally:
            stopping.cancel()

    def _classify(self, batch: Draft, messages: list[Incoming]) -> None:
        if self.scope is not None:
            messages = self.scope.keep(messages)
            batch.left |= self.scope.take_leaving()
        self.classifier.classify(batch, ((m.topic, m.payload, m.retain) for m in messages))

    async def _subscribe(
        self, conn: MqttSession, devices: Iterable[str], *, off: bool = False
    ) -> None:
        """Subscribe (``off``: unsubscribe) the topics of ``devices``' own messages."""
        filters = self.scope.subscriptions(devices) if self.scope is not None else []
        change = conn.unsubscribe if off else conn.subscribe
        for i in range(0, len(filters), _SUBSCRIBE_CHUNK):
            await change(*filters[i : i + _SUBSCRIBE_CHUNK])

    async def _resubscribe(self, conn: MqttSession, *, left: set[str]) -> None:
        """Subscribe devices a birth moved into this partition; unsubscribe those it moved
        out (the broker would go on sending their messages here too, to be skipped)."""
        if self.scope is None:
            return
        if self.scope.joining:
            await self._subscribe(conn, self.scope.take_joining())
        await self._subscribe(conn, [d for d in left if d not in self.scope.devices], off=True)

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
            # A stale holder stores nothing; a lease lost after this check leaves at most
            # points the new holder writes again, identical (same series and time).
            if self.scope is not None and not await asyncio.to_thread(self.scope.still_held):
                raise LeaseLostError(f"{self.scope.lease.name} lost before a write")
            return await self.writer.write(lines, batches[0].received_ms, stop)
        finally:
            slots.release()

    async def _commit_stage(
        self, conn: MqttSession, written: asyncio.Queue[_Writing | None]
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
                if written.refused:
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
        heard: dict[str, strangers.Stranger] = {}
        for batch in batches:
            strangers.merge(heard, batch.strangers)
        async with self._store_lock:
            poison = await asyncio.to_thread(ingest_poison.write, self.store, write, at_ms=now_ms)
            if heard:
                await asyncio.to_thread(self._record_strangers, heard, now_ms)
        if poison:
            counters.dead[ingest_poison.REASON] += len(poison)
        # A device moved to another partition is that partition's to judge from now on (its
        # messages here are skipped: left in, it would time out here and count as silent).
        for batch in batches:
            for device in batch.left:
                if self.scope is not None and device not in self.scope.devices:
                    states.forget(device)
        # New gaps, and gaps still open: the request or the re-send it causes may be lost.
        open_gaps = {d for d in changed if sequences.has_hole(d)}
        counters.rebirths_requested += self.replies.request_rebirths(
            open_gaps | gaps.keys(), now_ms
        )
        return transitions

    def _record_strangers(self, heard: dict[str, strangers.Stranger], now_ms: int) -> None:
        try:
            with self.sessions.begin() as s:
                registry.record_strangers(s, heard, now=from_ms(now_ms))
        except SQLAlchemyError as exc:
            # A count of knocks is not worth stopping the ingest for: the next ones recount.
            log.warning("unregistered devices not recorded: %s", exc)

    async def _feed(self, batch: Batch, transitions: list[Transition], token: int | None) -> None:
        # Without rules to feed, a replay's readings are not gathered for nobody.
        items: Items = (
            [
                *(Born(b) for b in batch.births),
                *batch.stored,
                *(Liveness(t.status) for t in transitions),
            ]
            if self.feed.sink is not None
            else []
        )
        await self.feed.put(items, token)

    async def _spool_dead_letters(self, rejected: list[Rejected]) -> None:
        """Persist the dead letters of a spooled batch's refused points before the batch
        leaves the spool."""
        self.counters.dead[DEAD_LETTER_REASON] += len(rejected)
        write = BatchWrite(
            births=[], devices={}, rejected=rejected, counters=self.counters.as_rows()
        )
        async with self._store_lock:
            await asyncio.to_thread(self.store.write, write)

    # ---- background: heartbeat tick, self-metrics ------------------------------------
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
        spool = self.writer.spool
        if spool is not None and (spooled := spool.oldest_ms()) is not None:
            oldest.append(spooled)
        self.gauges.oldest_unsent_s = (now_ms - min(oldest)) / 1000 if oldest else 0.0
        for t in transitions:
            log.info("%s: %s (%s)", t.status.device, t.kind, t.status.reason)
        if transitions:
            await asyncio.to_thread(self.store.states, [t.status for t in transitions])
        await self.feed.put(items)
        return transitions

    async def _gauge_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.gauges_s)
            line = influx_line(self.counters, self.gauges, to_ms(self.clock.now()))
            await self.writer.write_metrics(line)
