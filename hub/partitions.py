"""This hub's share of the device partitions: leases taken, renewed and given up, and one
ingest (:class:`hub.ingest.Ingest` with a :class:`~hub.partition_scope.PartitionScope`) per
partition held.

Every ``lease_renew_s`` the hub renews its membership lease (``hub:<hub id>``) and the
partitions' leases, counts the live hubs, and aims at its fair share of the partitions:
it takes free or expired ones up to that share and gives up one above it (after its ingest
has drained, so nothing in flight is left behind). A partition whose lease cannot be
renewed is dropped at once; its ingest is fenced anyway (hub.partition_scope). Lease
decisions are made by the database (hub.leases), so hubs never talk to each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub import partitioning as part
from hub.attention_monitor import AttentionMonitor
from hub.device_state import DeviceStates, parse_class_timeouts
from hub.duty import SAFE_SHARE
from hub.influx import Influx
from hub.ingest import Ingest
from hub.ingest_feed import Sink
from hub.leases import Lease, Leases, in_lease_thread
from hub.metrics import IngestCounters, IngestGauges, make_registry
from hub.partition_scope import LeaseLostError, PartitionScope
from hub.settings import HubSettings
from trygg.clock import Clock, SystemClock, to_ms

log = logging.getLogger(__name__)

MEMBER_PREFIX = "hub:"


@dataclass
class _Held:
    scope: PartitionScope
    ingest: Ingest
    stop: asyncio.Event
    task: asyncio.Task[None]
    confirmed_at: float  # monotonic time the lease was last known to be ours


class Partitions:
    """The partitioned ingest: what :class:`hub.app.Hub` and the API read of an ingest
    (``registry``, ``states``, ``connected``, ``storage_problem``), over the partitions
    this hub holds now. ``adopt`` runs before a newly taken partition's ingest classifies
    anything (the rules reload the state its previous holder persisted)."""

    def __init__(
        self,
        *,
        settings: HubSettings,
        sessions: sessionmaker[Session],
        influx: Influx,
        clock: Clock,
        sink: Sink | None = None,
        attention: AttentionMonitor | None = None,
        adopt: Callable[[], Awaitable[None]] | None = None,
        leases: Leases | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if settings.partitions < 1:
            raise ValueError("a partitioned ingest needs TRYGG_PARTITIONS of at least 1")
        self.settings = settings
        self.sessions = sessions
        self.influx = influx
        self.clock = clock
        self.sink = sink
        self.attention = attention or AttentionMonitor(clock=clock)
        self.adopt = adopt
        self.monotonic = monotonic
        # Lease time is wall time, also when the hub's own clock is simulated.
        self.leases = leases or Leases(
            sessions=sessions,
            clock=SystemClock(),
            holder=settings.holder(),
            ttl_s=settings.lease_ttl_s,
        )
        self.held: dict[int, _Held] = {}
        self.connected = asyncio.Event()
        # Holds what the hub mirrors into every ingest's gauges (``degraded``).
        self.gauges = IngestGauges()
        self.registry: CollectorRegistry = make_registry(self.counters, self.gauge_totals)
        self.taken = 0  # partitions taken since start (tests and the benchmark read it)
        self.lost = 0  # partitions whose lease was lost (taken over) while held
        self._member: Lease | None = None
        self._view = DeviceStates(
            started_ms=to_ms(clock.now()),
            grace_s=settings.offline_grace_s,
            class_timeouts_s=parse_class_timeouts(settings.heartbeat_timeouts),
        )
        # Scatters where hubs start looking, so they do not all race for partition 0.
        self._start = part.partition_of("hub:" + settings.holder(), settings.partitions)

    # ---- what the hub and the API read ---------------------------------------------------
    def owned(self) -> list[int]:
        return sorted(self.held)

    def owns_device(self, device: str) -> bool:
        return any(device in h.scope.devices and self._sure(h) for h in self.held.values())

    def owns_cabinet(self, cabinet: str) -> bool:
        h = self.held.get(part.partition_of("cabinet:" + cabinet, self.settings.partitions))
        return h is not None and self._sure(h)

    def _sure(self, h: _Held) -> bool:
        """Whether the partition's lease was confirmed recently enough that nobody can have
        taken it over: a hub waking from a hang judges none of its devices' silence (the
        rules write no alarm for them) before its next renewal says they are still its."""
        return self.monotonic() - h.confirmed_at < self.leases.ttl_s * SAFE_SHARE

    @property
    def states(self) -> DeviceStates:
        devices = {}
        for h in self.held.values():
            devices.update(h.ingest.states.devices)
        self._view.devices = devices
        return self._view

    def storage_problem(self) -> str | None:
        for h in self.held.values():
            if (problem := h.ingest.storage_problem()) is not None:
                return problem
        return None

    def counters(self) -> IngestCounters:
        total = IngestCounters()
        for h in self.held.values():
            total.add(h.ingest.counters)
        return total

    def gauge_totals(self) -> IngestGauges:
        out = IngestGauges(connected=self.connected.is_set(), degraded=self.gauges.degraded)
        for h in self.held.values():
            g = h.ingest.gauges
            out.queue_depth += g.queue_depth
            out.oldest_unsent_s = max(out.oldest_unsent_s, g.oldest_unsent_s)
            out.spool_bytes += g.spool_bytes
            out.spool_batches += g.spool_batches
            out.last_batch_s = max(out.last_batch_s, g.last_batch_s)
            out.devices_online += g.devices_online
            out.devices_offline += g.devices_offline
            out.storage_problem |= g.storage_problem
            out.stalled_s = max(out.stalled_s, g.stalled_s)
        return out

    # ---- running -------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, *, ready: asyncio.Event | None = None) -> None:
        """Hold this hub's share of the partitions until ``stop``; then drain and give
        them up, so the other hubs take them over at once instead of after the TTL."""
        if ready is not None:
            await ready.wait()
        try:
            async with asyncio.TaskGroup() as tg:
                while not stop.is_set():
                    try:
                        await self.step(tg)
                    except SQLAlchemyError as exc:
                        # Leases not renewed expire; the ingests' fences refuse their writes.
                        log.warning("partition leases not renewed: %s", exc)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=self.settings.lease_renew_s)
                await asyncio.gather(*(self._give_up(p) for p in list(self.held)))
                if self._member is not None:
                    await in_lease_thread(self.leases.release, self._member)
        finally:
            for h in self.held.values():
                h.task.cancel()

    async def step(self, tg: asyncio.TaskGroup) -> None:
        """One round: renew, drop what was lost, then take or give up towards the share."""
        self._member = await in_lease_thread(self.leases.try_acquire, self._member_name())
        for p, h in list(self.held.items()):
            if h.task.done():
                # The ingest gave up (a failure): the partition is taken anew, new token.
                del self.held[p]
                await in_lease_thread(self.leases.release, h.scope.lease)
                continue
            asked = self.monotonic()
            if await in_lease_thread(self.leases.renew, h.scope.lease):
                h.confirmed_at = asked
            else:
                del self.held[p]
                h.stop.set()
                self.lost += 1
                log.warning("%s lost partition %d to another hub", self.settings.holder(), p)
        live = await in_lease_thread(self.live_hubs)
        share = part.fair_share(self.settings.partitions, live)
        if len(self.held) > share:
            await self._give_up(max(self.held))
        for p in self._candidates():
            if len(self.held) >= share:
                break
            asked = self.monotonic()
            lease = await in_lease_thread(self.leases.try_acquire, part.lease_name(p))
            if lease is not None:
                await self._take(tg, p, lease, asked)
        self._mirror_connected()

    def live_hubs(self) -> int:
        """Hubs whose membership lease is live (this one included, at least one)."""
        states = self.leases.holders()
        return max(1, sum(1 for s in states if s.name.startswith(MEMBER_PREFIX) and s.live))

    def _member_name(self) -> str:
        return MEMBER_PREFIX + self.settings.holder()

    def _candidates(self) -> list[int]:
        n = self.settings.partitions
        return [(self._start + i) % n for i in range(n) if (self._start + i) % n not in self.held]

    async def _take(self, tg: asyncio.TaskGroup, p: int, lease: Lease, asked: float) -> None:
        scope = PartitionScope(
            index=p,
            count=self.settings.partitions,
            lease=lease,
            leases=self.leases,
            group=self.settings.share_group,
        )
        ingest = Ingest(
            settings=self.settings,
            sessions=self.sessions,
            influx=self.influx,
            clock=self.clock,
            sink=self.sink,
            attention=self.attention,
            scope=scope,
        )
        stop = asyncio.Event()
        adopted = asyncio.Event()
        task = tg.create_task(self._serve(p, ingest, stop, adopted), name=f"partition-{p:02d}")
        self.held[p] = _Held(scope, ingest, stop, task, confirmed_at=asked)
        self.taken += 1
        log.info("%s took partition %d (token %d)", self.settings.holder(), p, lease.token)

    async def _serve(
        self, p: int, ingest: Ingest, stop: asyncio.Event, adopted: asyncio.Event
    ) -> None:
        """One partition's ingest, until stopped or its lease is lost (never raises: a
        failure gives the partition up, to be taken again with a new token)."""
        try:
            if self.adopt is not None:
                await self.adopt()
            adopted.set()
            await ingest.run(stop, ready=adopted)
        except* LeaseLostError as group:
            log.warning("partition %d: %s; given up", p, group.exceptions[0])
        except* Exception as group:  # noqa: BLE001 - one partition fails alone
            log.error("partition %d ingest failed; given up: %r", p, group.exceptions[0])

    async def _give_up(self, p: int) -> None:
        """Stop partition ``p``'s ingest, let it commit what it has, then free the lease."""
        h = self.held.pop(p)
        h.stop.set()
        # Bounded well within the TTL, so the other leases are renewed in time; what is cut
        # short stays unacknowledged, for the next holder.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(h.task), timeout=self.settings.lease_ttl_s / 3)
        h.task.cancel()
        with contextlib.suppress(SQLAlchemyError):
            await in_lease_thread(self.leases.release, h.scope.lease)
        log.info("%s gave up partition %d", self.settings.holder(), p)

    def _mirror_connected(self) -> None:
        if self.held and all(h.ingest.connected.is_set() for h in self.held.values()):
            self.connected.set()
        else:
            self.connected.clear()
