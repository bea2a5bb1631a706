"""One batch of received messages -> what to store, what to reject, what is a duplicate. Pure.

This is the hot path's decision logic, kept free of I/O so it can be tested with tables and
profiled alone. Per message: parse the topic, validate the payload against the contract
(complete validation, never skipped: :mod:`hub.contract_mirror` for ``data`` and ``event``,
the contract's pydantic models for the rest and for whatever the mirror refuses), check the payload's device
against the topic and the registry, check that every asset it names is the device's own
(:mod:`hub.asset_owners`: ``foreign_asset``, ``too_many_assets``), drop duplicates by
(device, seq) — seq is never reused by a device, and a re-flashed device's new, lower boot
restarts its stream — and encode the readings as line protocol. A message the contract refuses is rejected with its reason.

Which (device, seq) is stored or in flight, and which devices are known, is asked of the
ingest's one bookkeeping object (:mod:`hub.sequences`), which the classifier tells of the
keys it takes and the births it accepts. A batch is gathered in a :class:`Draft` and handed
on sealed, as a frozen :class:`Batch` that no stage changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any, Final

from hub import contract_mirror as mirror
from hub.asset_owners import DEFAULT_MAX_PER_DEVICE, AssetOwners
from hub.lineproto import point, reading_lines
from hub.metrics import IngestCounters
from hub.sequences import Admission
from hub.strangers import Stranger, claims_of, seen
from trygg import contract as c
from trygg import text

DEAD_LETTER_PAYLOAD_BYTES: Final = 4096
_STREAM_KINDS: Final = (c.Kind.DATA, c.Kind.EVENT)
_OUTBOX_FIELDS: Final = frozenset({"outboxDepth", "droppedReadings"})
# A city's devices x the kinds they send fit; past it the cache starts over (bounded memory).
_TOPIC_CACHE_MAX: Final = 100_000


@dataclass(frozen=True, slots=True)
class Rejected:
    topic: str
    device: str | None
    reason: str
    detail: str
    size: int
    payload: bytes
    at_ms: int


@dataclass(frozen=True, slots=True)
class Batch:
    """A classified batch, sealed: what to store, what to reject, what to tell."""

    received_ms: int
    lines: Sequence[str]
    marks: Sequence[tuple[str, int]]  # (device, seq) of the stored streams, now pending
    rejected: Sequence[Rejected]
    stored: Sequence[mirror.Data | mirror.Events]
    births: Sequence[c.Birth]
    states: Sequence[c.State]
    touched: Set[str]  # devices whose watermark may move: their Ack is due
    seen: Mapping[str, int]  # device -> boot of its last message
    outbox: Mapping[str, tuple[int | None, int | None]]  # device -> (depth, dropped)
    delta: IngestCounters
    strangers: Mapping[str, Stranger]  # unknown or blocked devices heard in this batch
    left: Set[str] = frozenset()  # devices a birth moved to another partition


@dataclass(slots=True)
class Draft:
    """A batch being classified; only the consume stage holds it, until :meth:`seal`."""

    received_ms: int
    lines: list[str] = field(default_factory=list)
    marks: list[tuple[str, int]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    stored: list[mirror.Data | mirror.Events] = field(default_factory=list)
    births: list[c.Birth] = field(default_factory=list)
    states: list[c.State] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)
    seen: dict[str, int] = field(default_factory=dict)
    outbox: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    delta: IngestCounters = field(default_factory=IngestCounters)
    strangers: dict[str, Stranger] = field(default_factory=dict)
    left: set[str] = field(default_factory=set)  # devices a birth moved to another partition

    def seal(self) -> Batch:
        """The batch as classified; the draft starts empty again, sharing nothing with it."""
        batch = Batch(
            received_ms=self.received_ms,
            lines=self.lines,
            marks=self.marks,
            rejected=self.rejected,
            stored=self.stored,
            births=self.births,
            states=self.states,
            touched=self.touched,
            seen=self.seen,
            outbox=self.outbox,
            delta=self.delta,
            strangers=self.strangers,
            left=self.left,
        )
        self.lines, self.marks, self.rejected, self.stored = [], [], [], []
        self.births, self.states, self.touched, self.seen = [], [], set(), {}
        self.outbox, self.delta, self.strangers, self.left = {}, IngestCounters(), {}, set()
        return batch


class Classifier:
    def __init__(
        self,
        *,
        sequences: Admission,
        dedup: bool = True,
        registry_open: bool = False,
        owners: AssetOwners | None = None,
    ) -> None:
        self.sequences = sequences
        # Bound once: asked for every message.
        self._is_known, self._taken, self._hold = (
            sequences.is_known,
            sequences.taken,
            sequences.hold,
        )
        self.owners = owners or AssetOwners(
            is_known=sequences.is_known, max_per_device=DEFAULT_MAX_PER_DEVICE
        )
        self.dedup = dedup
        self.registry_open = registry_open
        # Devices whose messages are dropped unread (and counted); replaced on registry change.
        self.blocked: frozenset[str] = frozenset()
        self._topics: dict[str, tuple[str, c.Kind]] = {}  # parsed topics, a fleet's worth

    def classify(self, batch: Draft, messages: Iterable[tuple[str, bytes, bool]]) -> None:
        """Classify (topic, payload, retained) triples into ``batch``."""
        for topic, payload, retained in messages:
            self.one(batch, topic, payload, retained=retained)

    def one(self, batch: Draft, topic: str, payload: bytes, *, retained: bool = False) -> None:
        device: str | None = None
        try:
            parsed = self._topics.get(topic)
            if parsed is None:
                parsed = c.parse_topic(topic)  # raises ContractError('topic'): not cached
                if len(self._topics) >= _TOPIC_CACHE_MAX:
                    self._topics.clear()
                self._topics[topic] = parsed
            device, kind = parsed
            if kind not in c.DEVICE_TO_HUB:
                raise c.ContractError("topic", f"{kind.value} is not sent by devices")  # noqa: TRY301
            if not self._is_known(device) and not (self.registry_open and kind == c.Kind.BIRTH):
                blocked = device in self.blocked
                claims = claims_of(payload) if kind == c.Kind.BIRTH and not blocked else None
                seen(batch.strangers, device, blocked=blocked, claims=claims)
                if blocked:
                    batch.delta.blocked += 1
                    return
                if retained:
                    # The broker replays retained births/states of unregistered devices on
                    # every (re)subscribe: counted, but not news worth a dead letter each time.
                    batch.delta.ignored_retained += 1
                    return
                raise c.ContractError("unknown_device", f"device {device!r} is not registered")  # noqa: TRY301
            message = self._decode(kind, payload)
            if message.device != device:
                raise c.ContractError(  # noqa: TRY301
                    "device_mismatch", f"payload device {message.device!r} on topic of {device!r}"
                )
            if kind in _STREAM_KINDS:
                self._stream(batch, device, message)
            elif kind == c.Kind.BIRTH:
                self._birth(batch, message)
            elif kind == c.Kind.STATE:
                batch.states.append(message)
            batch.delta.messages += 1
        except c.ContractError as exc:
            batch.delta.dead[exc.reason] += 1
            batch.rejected.append(
                Rejected(
                    topic=text.escape(topic)[:300],
                    device=device if device and self.sequences.is_known(device) else None,
                    reason=exc.reason,
                    # Details quote what the device sent (an unknown key, say): escaped.
                    detail=text.escape(exc.detail)[:400],
                    size=len(payload),
                    payload=payload[:DEAD_LETTER_PAYLOAD_BYTES],
                    at_ms=batch.received_ms,
                )
            )

    @staticmethod
    def _decode(kind: c.Kind, payload: bytes) -> Any:
        if kind is c.Kind.DATA:
            return mirror.decode_data(payload)
        if kind is c.Kind.EVENT:
            return mirror.decode_events(payload)
        return c.decode(kind, payload)

    def _stream(self, batch: Draft, device: str, message: mirror.Data | mirror.Events) -> None:
        self.owners.check_items(
            device,
            message.readings if isinstance(message, mirror.Data) else message.events,
        )
        key = (device, message.seq)
        taken = self._taken(key)
        batch.touched.add(device)
        batch.seen[device] = message.boot
        if self.dedup and taken:
            batch.delta.duplicates += 1
            if isinstance(message, mirror.Data):
                batch.delta.duplicate_readings += len(message.readings)
            return
        if isinstance(message, mirror.Data):
            # Encoding may still refuse a value (unknown field, wrong type): then the
            # whole message is rejected and nothing of it is stored.
            lines = reading_lines(device=device, site=message.site, readings=message.readings)
            batch.delta.readings += len(message.readings)
            self._outbox_figures(batch, device, message)
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
            batch.delta.events += len(message.events)
        batch.lines += lines
        self._hold(key)
        batch.marks.append(key)
        batch.stored.append(message)

    @staticmethod
    def _outbox_figures(batch: Draft, device: str, message: mirror.Data) -> None:
        for r in message.readings:
            if r.field in _OUTBOX_FIELDS and r.kind is c.AssetKind.DEVICE:
                depth, dropped = batch.outbox.get(device, (None, None))
                if r.field == "outboxDepth" and isinstance(r.v, int):
                    depth = r.v
                elif isinstance(r.v, int):
                    dropped = r.v
                batch.outbox[device] = (depth, dropped)

    def _birth(self, batch: Draft, birth: c.Birth) -> None:
        self.owners.claim(birth)  # raises ContractError before anything changes
        lost = self.sequences.born(birth)
        batch.delta.lost += lost
        batch.births.append(birth)
        batch.touched.add(birth.device)
        batch.seen[birth.device] = birth.boot
