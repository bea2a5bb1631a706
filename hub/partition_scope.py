"""What one ingest needs to know when it serves a single partition under a lease.

The ingest asks it which messages are its partition's, which devices to subscribe to, and,
before each InfluxDB write and inside each SQL commit, whether the lease is still held with
the token it was taken with (fencing): a hub that stalled past its lease and woke up stores
nothing more for a partition another hub has taken.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from hub import partitioning as part
from hub.leases import Lease, Leases
from trygg import contract as c
from trygg.contract import ContractError
from trygg.mqtt import Incoming


class LeaseLostError(Exception):
    """This hub no longer holds the partition's lease: it stops serving the partition, and
    what it had not committed stays unacknowledged for the new holder."""


@dataclass(slots=True)
class PartitionScope:
    index: int
    count: int
    lease: Lease
    leases: Leases
    group: str  # the installation's MQTT share group: names the partition's session
    devices: set[str] = field(default_factory=set)  # this partition's devices, as known now
    joining: set[str] = field(default_factory=set)  # moved in by a birth, not subscribed yet
    leaving: set[str] = field(default_factory=set)  # moved out by a birth, not forgotten yet

    @property
    def client_id(self) -> str:
        return part.client_id(self.group, self.index)

    @property
    def counter_prefix(self) -> str:
        return part.counter_prefix(self.index)

    def owns_key(self, key: str) -> bool:
        return part.partition_of(key, self.count) == self.index

    def owns(self, device: str, *, site: str, cabinets: Iterable[str | None]) -> bool:
        return self.owns_key(part.partition_key(device=device, site=site, cabinets=cabinets))

    def subscriptions(self, devices: Iterable[str]) -> list[str]:
        """Topic filters of ``devices``' own messages (births come to every partition)."""
        kinds = (c.Kind.DATA, c.Kind.EVENT, c.Kind.CMD_RESULT, c.Kind.STATE)
        return [c.subscription(k, d) for d in sorted(devices) for k in kinds]

    def route(self, topic: str, payload: bytes) -> tuple[bool, str | None, bool]:
        """Whether a message is this partition's, and the device that a birth moves into
        (``True``) or out of (``False``) the partition, if any."""
        try:
            device, kind = c.parse_topic(topic)
        except ContractError:
            return part.partition_of("topic:" + topic, self.count) == self.index, None, False
        if kind != c.Kind.BIRTH:
            return device in self.devices, None, False
        mine = self.owns_key(part.birth_key(device, payload))
        if mine and device not in self.devices:
            return True, device, True
        if not mine and device in self.devices:
            return False, device, False
        return mine, None, False

    def keep(self, messages: list[Incoming]) -> list[Incoming]:
        """This partition's ``messages``; births that move a device in or out of the
        partition change its devices (the others are acknowledged with the batch, unread)."""
        mine: list[Incoming] = []
        for m in messages:
            keep, moved, into = self.route(m.topic, m.payload)
            if moved is not None:
                if into:
                    self.devices.add(moved)
                    self.joining.add(moved)
                    self.leaving.discard(moved)
                else:
                    self.devices.discard(moved)
                    self.leaving.add(moved)
            if keep:
                mine.append(m)
        return mine

    def take_joining(self) -> set[str]:
        """The devices moved in since the last call (to subscribe)."""
        joining, self.joining = self.joining, set()
        return joining

    def take_leaving(self) -> set[str]:
        """The devices moved out since the last call (to unsubscribe and forget)."""
        leaving, self.leaving = self.leaving, set()
        return leaving

    def still_held(self) -> bool:
        """Whether the lease is held with our token, in a transaction of its own (blocking)."""
        with self.leases.sessions.begin() as s:
            return self.leases.held(self.lease.name, self.lease.token, s)

    def fence(self, session: Session) -> None:
        """Raise LeaseLostError unless the lease is held with our token in ``session``'s
        transaction (which then keeps the lease row locked until it ends)."""
        if not self.leases.held(self.lease.name, self.lease.token, session):
            raise LeaseLostError(f"{self.lease.name} (token {self.lease.token}) is no longer ours")
