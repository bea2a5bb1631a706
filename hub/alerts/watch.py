"""The crowd rules' shell inside the rules engine: zones, running events, blind poles,
alert changes in the engine's transaction, and their publication after it committed.

The engine owns the rule states (persisted with the others); this keeps what the crowd
rules need besides: each zone's parameters, the events (reloaded every tick, so an event
added through the API or CLI takes effect within one tick), which poles' cameras are
faulty, and until when each event zone's device was told to report fast.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
# The hub's restore ends fast reporting on time; the device's own expiry, a little later,
# ends it when the hub is down at that moment. The device accepts at most a day.
EXPIRY_GRACE: Final = timedelta(minutes=5)
MAX_DURATION_S: Final = 86_400.0


@dataclass(frozen=True, slots=True)
class WatchConfig:
    ack_timeout_s: float = 120.0
    chain: int = 3  # contacts an unacknowledged alert escalates through
    event_interval_s: float = 1.0


@dataclass
class CrowdWatch:
    bus: Bus
    config: WatchConfig = field(default_factory=WatchConfig)
    running: dict[str, Running] = field(default_factory=dict)
    faulty: dict[str, set[str]] = field(default_factory=dict)  # device -> camera alarms
    fast: dict[str, datetime] = field(default_factory=dict)  # device -> told fast until
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

    def tick(
        self, s: Session, *, now: datetime, devices: Mapping[str, str], escalate: bool = True
    ) -> None:
        """Reload the events, escalate overdue alerts (with ``escalate``: the fleet-wide part,
        one hub's) and tell zone devices how often to report (``devices``: zone -> its
        device): fast until the running phase ends, then back to each device's own interval."""
        self.running = running(store.events(s), now)
        if escalate:
            self.pending += store.escalate_due(
                s, now=now, ack_timeout_s=self.config.ack_timeout_s, chain=self.config.chain
            )
        want = fast_until(self.running, devices)
        for device, until in sorted(want.items()):
            if self.fast.get(device) != until:
                seconds = min(
                    MAX_DURATION_S, max(1.0, (until + EXPIRY_GRACE - now).total_seconds())
                )
                args = {"seconds": self.config.event_interval_s, "duration_s": round(seconds)}
                self._command(s, device, args, now)
                log.info(
                    "device %s told to report crowd every %g s until %s",
                    device,
                    self.config.event_interval_s,
                    until.isoformat(),
                )
        for device in sorted(set(self.fast) - set(want)):
            self._command(s, device, {"restore": True}, now)
            log.info("device %s told to restore its own crowd interval", device)
        self.fast = want

    def _command(
        self, s: Session, device: str, args: Mapping[str, commands.ArgValue], now: datetime
    ) -> None:
        commands.queue(
            s,
            device=device,
            name="set_crowd_interval",
            args=args,
            now=now,
            reason="crowd event zone",
        )

    def publish(self) -> None:
        """Tell subscribers what the committed transaction changed."""
        out, self.pending = self.pending, []
        self.bus.publish(out)

    def discard(self) -> None:
        """The transaction rolled back: nothing happened."""
        self.pending.clear()


def fast_until(running: Mapping[str, Running], devices: Mapping[str, str]) -> dict[str, datetime]:
    """Device -> the latest end of the phases running at its zones (devices of no running
    zone are absent)."""
    out: dict[str, datetime] = {}
    for zone, run in running.items():
        device = devices.get(zone)
        if device is not None:
            out[device] = max(out.get(device, run.phase.end), run.phase.end)
    return out
