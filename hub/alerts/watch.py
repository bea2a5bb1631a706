"""The crowd rules' shell inside the rules engine: zones, running events, blind poles,
alert changes in the engine's transaction, and their publication after it committed.

The engine owns the rule states (persisted with the others); this keeps what the crowd
rules need besides: each zone's parameters, the events (reloaded every tick, so an event
added through the API or CLI takes effect within one tick), which poles' cameras are
faulty, and the reporting interval each event zone's device was told to use.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import commands
from hub.alerts import store
from hub.alerts.events import Bus
from hub.alerts.model import Alert, AlertAction
from hub.alerts.schedule import Running, running
from hub.db import Alarm, Asset
from hub.rules.camera import HEALTH

log = logging.getLogger(__name__)
FAULTY: Final = frozenset(HEALTH) - {"cameraDark", "cameraOverexposed"}


@dataclass(frozen=True, slots=True)
class WatchConfig:
    ack_timeout_s: float = 120.0
    chain: int = 3  # contacts an unacknowledged alert escalates through
    event_interval_s: float = 1.0
    normal_interval_s: float = 60.0


@dataclass
class CrowdWatch:
    bus: Bus
    config: WatchConfig = field(default_factory=WatchConfig)
    running: dict[str, Running] = field(default_factory=dict)
    faulty: dict[str, set[str]] = field(default_factory=dict)  # device -> camera alarms
    fast: set[str] = field(default_factory=set)  # zones told to report every second
    pending: list[Alert] = field(default_factory=list)

    def load(self, s: Session, *, now: datetime) -> None:
        """Events and the active camera health alarms, at start."""
        self.faulty.clear()
        q = (
            select(Asset.device_id, Alarm.type)
            .join(Asset, Asset.id == Alarm.asset_id)
            .where(Alarm.active.is_(True), Alarm.type.in_(sorted(FAULTY)))
        )
        for device, alarm_type in s.execute(q):
            self.faulty.setdefault(device, set()).add(alarm_type)
        self.running = running(store.events(s), now)

    def camera(self, device: str, event_type: str, active: bool) -> None:
        if event_type not in FAULTY:
            return
        found = self.faulty.setdefault(device, set())
        if active:
            found.add(event_type)
        else:
            found.discard(event_type)

    def blind_camera(self, device: str) -> bool:
        return bool(self.faulty.get(device))

    def where(self, zone: str, place: str | None) -> store.Where:
        run = self.running.get(zone)
        return store.Where(run.place if run else place, run.event if run else None)

    def apply(
        self,
        s: Session,
        actions: Iterable[AlertAction],
        *,
        now: datetime,
        places: Mapping[str, str | None],
    ) -> None:
        acts = list(actions)
        if not acts:
            return
        where = {a.zone: self.where(a.zone, places.get(a.zone)) for a in acts}
        self.pending += store.apply(s, acts, now=now, where=where)

    def tick(self, s: Session, *, now: datetime, devices: Mapping[str, str]) -> None:
        """Reload the events, escalate overdue alerts and tell zone devices their interval
        (``devices``: zone -> its device)."""
        self.running = running(store.events(s), now)
        self.pending += store.escalate_due(
            s, now=now, ack_timeout_s=self.config.ack_timeout_s, chain=self.config.chain
        )
        active = {z for z in self.running if z in devices}
        for zone in sorted(active - self.fast):
            self._interval(s, devices[zone], self.config.event_interval_s, now, zone)
        for zone in sorted(self.fast - active):
            if zone in devices:
                self._interval(s, devices[zone], self.config.normal_interval_s, now, zone)
        self.fast = active

    def _interval(self, s: Session, device: str, seconds: float, now: datetime, zone: str) -> None:
        commands.queue(
            s,
            device=device,
            name="set_crowd_interval",
            args={"seconds": seconds},
            now=now,
            reason=f"crowd zone {zone}",
        )
        log.info("zone %s: device %s told to report crowd every %g s", zone, device, seconds)

    def publish(self) -> None:
        """Tell subscribers what the committed transaction changed."""
        out, self.pending = self.pending, []
        self.bus.publish(out)

    def discard(self) -> None:
        """The transaction rolled back: nothing happened."""
        self.pending.clear()
