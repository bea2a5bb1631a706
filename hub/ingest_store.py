"""The ingest's SQL side: device rows, dead letters and counters, written per batch.

One transaction per batch holds the new watermarks, the counters and the dead letters
together, so after a crash the persisted counters always agree with the persisted
de-duplication state (a batch is either wholly counted and marked, or neither, and then
re-delivered by the broker). Writes are bulk (one executemany per table), because this
runs for every batch on the hot path. Blocking: called through ``asyncio.to_thread``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from hub import retry
from hub.db import Asset, DeadLetter, Device
from hub.db import Counter as CounterRow
from hub.dedup import SeqState
from hub.device_state import DeviceStatus
from hub.ingest_batch import Rejected
from hub.metrics import IngestCounters
from hub.sequences import SeqRow
from trygg import contract as c
from trygg.clock import from_ms, to_ms

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Loaded:
    known: set[str]
    seq: dict[str, SeqState]
    statuses: list[DeviceStatus]
    counters: IngestCounters
    owned: list[tuple[str, str]]  # (asset, device)


# Whether a device (id, site, its assets' cabinets) is one this ingest serves.
Selects = Callable[[str, str, list[str | None]], bool]


def load(
    sessions: sessionmaker[Session], *, selects: Selects | None = None, counter_prefix: str = ""
) -> Loaded:
    """Known devices, their watermarks and state, and the counters; given ``selects``, only
    the devices it selects, and the counters whose rows start with ``counter_prefix``."""
    known: set[str] = set()
    seq: dict[str, SeqState] = {}
    statuses: list[DeviceStatus] = []
    counters = IngestCounters()
    with sessions() as s:
        cabinets: dict[str, list[str | None]] = {}
        if selects is not None:
            for device_id, cabinet in s.execute(select(Asset.device_id, Asset.cabinet)):
                cabinets.setdefault(device_id, []).append(cabinet)
        for dev in s.scalars(select(Device)):
            if selects is not None and not selects(dev.id, dev.site, cabinets.get(dev.id, [])):
                continue
            if not dev.retired:
                known.add(dev.id)
            seq[dev.id] = SeqState(
                watermark=dev.watermark,
                above={int(x) for x in (dev.above or {}).get("seqs", [])},
                max_seen=max([dev.watermark, *((dev.above or {}).get("seqs", []))]),
                gaps=dev.gaps,
                lost=dev.lost,
                boot=dev.boot,
            )
            statuses.append(status_of(dev))
        owned = [(a, d) for a, d in s.execute(select(Asset.id, Asset.device_id))]
        for row in s.scalars(select(CounterRow)):
            if not row.name.startswith(counter_prefix):
                continue
            name = row.name[len(counter_prefix) :]
            if name.startswith("dead."):
                counters.dead[name[5:]] = row.value
            elif isinstance(getattr(counters, name, None), int):
                setattr(counters, name, row.value)
    return Loaded(known=known, seq=seq, statuses=statuses, counters=counters, owned=owned)


def status_of(dev: Device) -> DeviceStatus:
    reason = dev.state_reason if dev.state_reason in _REASONS else "unknown"
    return DeviceStatus(
        device=dev.id,
        device_class=dev.device_class,
        heartbeat_s=dev.heartbeat_s,
        boot=dev.boot,
        online=dev.online if dev.state_changed is not None else None,
        reason=reason,  # type: ignore[arg-type]
        changed_ms=to_ms(dev.state_changed) if dev.state_changed else None,
        last_seen_ms=to_ms(dev.last_seen) if dev.last_seen else None,
        firmware=dev.firmware,
        outbox_depth=dev.outbox_depth,
        dropped=dev.dropped,
        gaps=dev.gaps,
        last_gap_ms=to_ms(dev.last_gap_at) if dev.last_gap_at else None,
    )


_REASONS = frozenset({"birth", "state", "will", "data", "heartbeat", "unknown"})
# Device rows are updated with one Core executemany by primary key: the ORM's bulk update
# by primary key costs several times as much per row, and this runs for every batch.
_DEVICES = cast(Table, Device.__table__)
_UPDATE_DEVICE = update(_DEVICES).where(_DEVICES.c.id == bindparam("b_id"))
_ROW_COLUMNS = (
    "watermark",
    "above",
    "gaps",
    "lost",
    "online",
    "state_reason",
    "state_changed",
    "last_seen",
    "boot",
    "outbox_depth",
    "dropped",
    "last_gap_at",
)


def _row_values(st: SeqRow, status: DeviceStatus) -> dict[str, Any]:
    """A device row's ingest columns, times still in epoch ms (cheap to compare)."""
    return {
        "watermark": st.watermark,
        "above": st.above,
        "gaps": st.gaps,
        "lost": st.lost,
        "online": bool(status.online),
        "state_reason": status.reason,
        "state_changed": status.changed_ms,
        "last_seen": status.last_seen_ms,
        "boot": max(st.boot, status.boot),
        "outbox_depth": status.outbox_depth,
        "dropped": status.dropped,
        "last_gap_at": status.last_gap_ms,
    }


def _column_value(name: str, value: Any) -> Any:
    if name == "above":
        return {"seqs": list(value)}
    if name in ("state_changed", "last_seen", "last_gap_at"):
        return from_ms(value) if value else None
    return value


def _status_values(status: DeviceStatus) -> dict[str, Any]:
    return {
        "online": bool(status.online),
        "state_reason": status.reason,
        "state_changed": from_ms(status.changed_ms) if status.changed_ms else None,
        "last_seen": from_ms(status.last_seen_ms) if status.last_seen_ms else None,
        "boot": status.boot,
        "outbox_depth": status.outbox_depth,
        "dropped": status.dropped,
        "last_gap_at": from_ms(status.last_gap_ms) if status.last_gap_ms else None,
    }


@dataclass(frozen=True, slots=True)
class BatchWrite:
    births: Sequence[c.Birth]
    devices: Mapping[str, tuple[SeqRow, DeviceStatus]]
    rejected: Sequence[Rejected]
    counters: dict[str, int]


class IngestStore:
    """``fence`` runs last in every transaction, just before its commit, and raises to
    refuse it (a partition's lease lost, hub.partition_scope): the lease row it locks is
    then held only while the transaction commits, so the holder's own renewal never waits
    behind a long write; ``counter_prefix`` names a partition's counter rows."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        dead_letter_max: int,
        fence: Callable[[Session], None] | None = None,
        counter_prefix: str = "",
    ) -> None:
        self.sessions = sessions
        self.dead_letter_max = dead_letter_max
        self.fence = fence
        self.counter_prefix = counter_prefix
        self._counter_names: set[str] | None = None
        # device -> the ingest columns as last committed (see _device_rows). Only this store
        # writes them; a device missing here gets its whole row written.
        self._written: dict[str, dict[str, Any]] = {}

    def write(self, batch: BatchWrite) -> None:
        retry.transient(lambda: self._write_once(batch), what="ingest commit")

    def _write_once(self, batch: BatchWrite) -> None:
        try:
            self._write(batch)
        except BaseException:
            self._counter_names = None  # the insert of new names may have rolled back
            raise

    def _write(self, batch: BatchWrite) -> None:
        for birth in batch.births:
            self._written.pop(birth.device, None)
        with self.sessions.begin() as s:
            # Every device row this transaction writes is locked first, in one order (by id),
            # so that no two writers (partitions, while a device moves between them) take
            # the same rows in opposite orders.
            self._lock_devices(s, {b.device for b in batch.births} | batch.devices.keys())
            for birth in sorted(batch.births, key=lambda b: b.device):
                self._birth(s, birth)
            if batch.births:
                s.flush()
            rows, written = self._device_rows(batch.devices)
            if rows:
                s.execute(_UPDATE_DEVICE, rows)
            if batch.rejected:
                self._dead_letters(s, batch.rejected)
            prefix = self.counter_prefix
            self._counters(s, {prefix + k: v for k, v in batch.counters.items()})
            if self.fence is not None:
                self.fence(s)
        self._written.update(written)

    @staticmethod
    def _lock_devices(s: Session, devices: set[str]) -> None:
        if devices and s.get_bind().dialect.name == "postgresql":
            ordered = select(Device.id).where(Device.id.in_(sorted(devices))).order_by(Device.id)
            s.execute(ordered.with_for_update())

    def probe(self, births: Sequence[c.Birth], rejected: Sequence[Rejected]) -> None:
        """Write ``births`` and ``rejected`` in a transaction that is rolled back: raises
        what the database refuses in them, keeps nothing (hub.ingest_poison)."""
        with self.sessions() as s:
            for birth in births:
                self._birth(s, birth)
            s.flush()
            if rejected:
                self._dead_letters(s, rejected)
            s.rollback()

    def _device_rows(
        self, devices: Mapping[str, tuple[SeqRow, DeviceStatus]]
    ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        """The UPDATE rows for ``devices``, in id order, setting only the columns that
        changed since the last commit for any of them (a replay moves a device's watermark
        and last_seen; converting and binding all twelve columns of every row was most of
        the commit's time); rows with no change at all are left out. Also returns the new
        values, to be remembered once the transaction is committed."""
        values: dict[str, dict[str, Any]] = {}
        columns: set[str] = set()
        for device, (st, status) in sorted(devices.items()):
            now = _row_values(st, status)
            before = self._written.get(device)
            if before is None:
                columns.update(now)
            else:
                changed = [k for k, v in now.items() if before[k] != v]
                if not changed:
                    continue
                columns.update(changed)
            values[device] = now
        names = [k for k in _ROW_COLUMNS if k in columns]
        rows = [
            {"b_id": device, **{k: _column_value(k, now[k]) for k in names}}
            for device, now in values.items()
        ]
        return rows, values

    def states(self, statuses: Iterable[DeviceStatus]) -> None:
        """Persist state changes from the heartbeat tick."""
        rows = sorted(
            ({"b_id": st.device, **_status_values(st)} for st in statuses),
            key=lambda r: str(r["b_id"]),
        )
        if rows:

            def update() -> None:
                for row in rows:  # written here too: the next batch writes whole rows
                    self._written.pop(str(row["b_id"]), None)
                with self.sessions.begin() as s:
                    s.execute(_UPDATE_DEVICE, rows)
                    if self.fence is not None:
                        self.fence(s)

            retry.transient(update, what="device states")

    @staticmethod
    def _birth(s: Session, birth: c.Birth) -> None:
        dev = s.get(Device, birth.device)
        if dev is None:
            dev = Device(id=birth.device, above={"seqs": []})
            s.add(dev)
        dev.site, dev.firmware, dev.device_class = birth.site, birth.firmware, birth.device_class
        dev.release = birth.release
        dev.heartbeat_s = birth.heartbeat_s
        for a in birth.assets:
            row = s.get(Asset, a.id)
            if row is not None and row.device_id != birth.device:
                # The ingest refuses such births; this covers an owner changed in SQL since.
                log.warning(
                    "birth of %s names asset %s of %s: left", birth.device, a.id, row.device_id
                )
                continue
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

    def _dead_letters(self, s: Session, rejected: Sequence[Rejected]) -> None:
        # The newest ``dead_letter_max`` are kept: a device spewing garbage cannot fill the
        # disk, and the per-reason counters keep the full tally.
        keep = rejected[-self.dead_letter_max :]
        s.execute(
            insert(DeadLetter),
            [
                {
                    "at": from_ms(r.at_ms),
                    "topic": r.topic,
                    "device_id": r.device,
                    "reason": r.reason,
                    "detail": r.detail,
                    "size": r.size,
                    "payload": r.payload,
                }
                for r in keep
            ],
        )
        newest = s.scalar(select(func.max(DeadLetter.id))) or 0
        s.execute(delete(DeadLetter).where(DeadLetter.id <= newest - self.dead_letter_max))

    def _counters(self, s: Session, counters: dict[str, int]) -> None:
        if self._counter_names is None:
            self._counter_names = set(s.scalars(select(CounterRow.name)))
        names = self._counter_names
        new_names = [k for k in counters if k not in names]
        new = [{"name": k, "value": counters[k]} for k in new_names]
        old = [{"name": k, "value": v} for k, v in counters.items() if k in names]
        if new:
            s.execute(insert(CounterRow), new)
            names.update(new_names)
        if old:
            s.execute(update(CounterRow), old)
