"""The rules' I/O shell: feeds stored readings, events, device states and clock ticks to the
pure rules, applies their actions to alarms and tickets, and persists the rule state.

Rule state that matters (debounce timers, active flags, learned baselines, fill history,
device offline holds) lives in ``rule_state``, written in the same transaction as the alarms
and tickets it caused, so a hub killed at any moment restarts consistent and carries on.
What the engine receives is :data:`hub.rules.inputs.RuleInput`. Device liveness is not
decided here: the ingest's liveness owner sends its transitions. A sensor's silence ("no
data") counts from the hub's start, its last reconnect to the broker (:class:`LinkChanged`)
or the owner's last mass silence (:class:`FleetSilent`), plus ``offline_grace_s`` at the
earliest, and time the hub could not hear (:mod:`hub.attention`, measured by the
``monitor``) is not silence. Readings are judged at their own measurement time; ticks at
the clock's time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub import retry
from hub.alerts.model import AlertAction, AlertClear, AlertRaise
from hub.alerts.watch import CrowdWatch
from hub.attention import Attention
from hub.attention_monitor import AttentionMonitor
from hub.contract_mirror import Data, Events
from hub.db import Asset, RuleState, upsert
from hub.device_state import DeviceStatus
from hub.rules import alarms, codec
from hub.rules.actions import Action, Raise
from hub.rules.bin import FIRE, BinState, bin_step
from hub.rules.cabinet import (
    CABINET_OUT,
    DUSK_MARGIN_DEG,
    CabinetParams,
    CabinetState,
    cabinet_step,
)
from hub.rules.camera import camera_event
from hub.rules.crowd import CrowdState, crowd_step
from hub.rules.device import DEVICE_OFFLINE, DeviceParams, DeviceState, device_step
from hub.rules.fleet import Fleet
from hub.rules.inputs import Born, FleetSilent, LinkChanged, Liveness, RuleInput
from hub.rules.lamp import LAMP_OUT, LampParams, LampState, lamp_step, sun_at
from trygg import contract as c
from trygg.clock import Clock, to_ms

log = logging.getLogger(__name__)

SUPPRESSED_BY_CABINET = frozenset({LAMP_OUT})


class RuleEngine:
    """Owns the in-memory copy of the rule state; one evaluation at a time (a lock)."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        clock: Clock,
        resolve_hold_s: float = 600.0,
        offline_grace_s: float = 120.0,
        settle_s: float = 300.0,
        monitor: AttentionMonitor | None = None,
        watch: CrowdWatch | None = None,
        owns_device: Callable[[str], bool] | None = None,
        owns_cabinet: Callable[[str], bool] | None = None,
    ) -> None:
        self.sessions = sessions
        # With several hubs, time passing is judged only for this hub's partitions' devices
        # and cabinets (hub.partitions); None: everything is this hub's.
        self.owns_device = owns_device
        self.owns_cabinet = owns_cabinet
        # Whether this hub does the tick's fleet-wide part (alert escalation, ticket holds
        # and settling): one hub at a time (hub.duty); None: this hub is the only one.
        self.fleet_wide: Callable[[], bool] | None = None
        self.watch = watch  # crowd rules and alerts (hub.alerts); None: no alerts
        self.monitor = monitor
        self.attention = monitor.attention if monitor is not None else Attention()
        self.settle_s = settle_s
        self.clock = clock
        self.resolve_hold_s = resolve_hold_s
        self.offline_grace_s = offline_grace_s
        self.fleet = Fleet(resolve_hold_s=resolve_hold_s)
        self.lamps: dict[str, LampState] = {}
        self.bins: dict[str, BinState] = {}
        self.cabinets: dict[str, CabinetState] = {}
        self.devices: dict[str, DeviceState] = {}
        self.crowds: dict[str, CrowdState] = {}
        self.floor_ms = 0
        self.link_up = True  # the hub's own broker link (ingest feeds LinkChanged)
        self.tickets_opened = 0
        self.evaluations = 0
        self.items_fed = 0  # messages whose effects are committed (tests wait on it)
        self._dirty: set[str] = set()
        self._lock = threading.Lock()

    # ---- start-up --------------------------------------------------------------------
    def load(self) -> None:
        """Assets, devices and the persisted rule state; silence counts from now + grace."""
        self.floor_ms = to_ms(self.clock.now()) + int(self.offline_grace_s * 1000)
        with self.sessions() as s:
            for asset in s.scalars(select(Asset)):
                self.fleet.from_row(asset)
        self.reload_state()
        if self.watch is not None:
            with self.sessions() as s:
                self.watch.load(s, now=self.clock.now())
        log.info(
            "rules loaded: %d assets, %d lamp, %d bin, %d device states",
            len(self.fleet.assets),
            len(self.lamps),
            len(self.bins),
            len(self.devices),
        )

    def reload_state(self) -> None:
        """Replace the in-memory rule state with the persisted one (after a failed write,
        memory must not run ahead of the database)."""
        self._dirty.clear()
        families = self._families()
        for store, _ in families.values():
            store.clear()
        with self.sessions() as s:
            for row in s.scalars(select(RuleState)):
                family, _, key = row.key.partition(":")
                if family in families:
                    store, cls = families[family]
                    store[key] = codec.load(cls, row.state)

    def _families(self) -> dict[str, tuple[dict[str, Any], type[Any]]]:
        return {
            "lamp": (self.lamps, LampState),
            "bin": (self.bins, BinState),
            "cabinet": (self.cabinets, CabinetState),
            "device": (self.devices, DeviceState),
            "crowd": (self.crowds, CrowdState),
        }

    async def adopt(self) -> None:
        """Reload the persisted rule state, which another hub may have changed, before this
        hub serves a partition it has just taken."""

        def reload() -> None:
            with self._lock:
                self.reload_state()

        await asyncio.to_thread(reload)

    def _mine(self, device: str | None) -> bool:
        return self.owns_device is None or (device is not None and self.owns_device(device))

    # ---- entry points ----------------------------------------------------------------
    async def feed(self, items: list[RuleInput]) -> None:
        """What the ingest stored or decided, in order (:mod:`hub.rules.inputs`)."""
        await asyncio.to_thread(self.feed_sync, items)

    async def tick(self) -> None:
        """Time passing: timers, "no data", offline holds and resolve holds."""
        if self.monitor is not None:
            self.monitor.observe()  # a stall just ended is on record before silence is judged
        await asyncio.to_thread(self.tick_sync)

    async def run(self, stop: asyncio.Event, *, every_s: float) -> None:
        """Tick every ``every_s`` wall seconds until ``stop``; a failed tick is logged and
        retried on the next (its transaction rolled back, the state reloaded)."""
        while not stop.is_set():
            try:
                await self.tick()
            except SQLAlchemyError as exc:
                log.warning("rule tick failed, retrying next tick: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)

    def feed_sync(self, items: list[RuleInput]) -> None:
        """A transient database error (a deadlock with ingest, a lock timeout) rolled the
        transaction back and the state is reloaded, so the feed is run again (hub.retry)."""
        with self._lock:
            retry.transient(lambda: self._feed_once(items), what="rules feed")

    def _feed_once(self, items: list[RuleInput]) -> None:
        try:
            self._feed(items)
        except BaseException:
            self.reload_state()
            if self.watch is not None:
                self.watch.discard()
            raise
        if self.watch is not None:
            self.watch.publish()

    def _feed(self, items: list[RuleInput]) -> None:
        with self.sessions.begin() as s:
            now_ms = to_ms(self.clock.now())
            dev_actions: list[Action] = []
            asset_actions: list[Action] = []
            touched_cabinets: dict[str, int] = {}
            for item in items:
                match item:
                    case Data():
                        asset_actions += self._on_data(s, item, touched_cabinets)
                    case Events():
                        asset_actions += self._on_events(s, item)
                    case Liveness(status=status):
                        dev_actions += self._device(status.device, now_ms, status)
                    case Born(birth=birth):
                        self.fleet.from_birth(birth)
                    case LinkChanged(up=up):
                        self._link(up, now_ms)
                    case FleetSilent(at_ms=at_ms):
                        self._restart_silence(at_ms)
            cab_actions = [a for cab, t in touched_cabinets.items() for a in self._cabinet(cab, t)]
            self._apply(s, [*dev_actions, *cab_actions, *asset_actions])
            self._alerts(s, asset_actions)
            self._persist(s)
        self.items_fed += len(items)

    def tick_sync(self) -> None:
        with self._lock:
            try:
                self._tick()
            except BaseException:
                self.reload_state()
                if self.watch is not None:
                    self.watch.discard()
                raise
            if self.watch is not None:
                self.watch.publish()

    def _tick(self) -> None:
        with self.sessions.begin() as s:
            now_ms = to_ms(self.clock.now())
            actions: list[Action] = []
            if not self.link_up:  # the hub hears nobody: silence is no evidence
                self.floor_ms = max(self.floor_ms, now_ms + int(self.offline_grace_s * 1000))
            for device in sorted(self.devices):
                if self._mine(device):
                    actions += self._device(device, now_ms)
            for cab in list(self.cabinets):
                if self.owns_cabinet is None or self.owns_cabinet(cab):
                    actions += self._cabinet(cab, now_ms, tick=True)
            for asset_id, state in list(self.lamps.items()):
                if not self._mine(self.fleet.device_of(asset_id)):
                    continue
                if state.toggles or any(
                    d.since_ms is not None
                    for d in (state.out, state.day_burn, state.flicker, state.power_drop)
                ):
                    actions += self._lamp(asset_id, None, now_ms)
            for asset_id, info in list(self.fleet.assets.items()):
                if info.kind == c.AssetKind.BIN and self._mine(info.device):
                    actions += self._bin(asset_id, None, now_ms)
            self._apply(s, actions)
            self._alerts(s, actions)
            fleet_wide = self.fleet_wide is None or self.fleet_wide()
            self._crowd_tick(s, now_ms, escalate=fleet_wide)
            if fleet_wide:
                now = self.clock.now()
                alarms.resolve_held(s, now=now)
                places = {a: p for a in self.fleet.assets if (p := self.fleet.place(a)) is not None}
                alarms.settle_released(s, now=now, places=places)
            self._persist(s)

    # ---- evaluation ------------------------------------------------------------------
    def _on_data(self, s: Session, data: Data, cabinets: dict[str, int]) -> list[Action]:
        groups: dict[tuple[str, int], dict[str, Any]] = {}
        quality: dict[tuple[str, int], str] = {}
        for r in data.readings:
            key = (r.asset, r.t)
            groups.setdefault(key, {})[r.field] = r.v
            if r.q != "good":
                quality[key] = "bad" if r.q == "bad" or quality.get(key) == "bad" else r.q
        actions: list[Action] = []
        for (asset_id, t), obs in sorted(groups.items(), key=lambda kv: kv[0][1]):
            info = self.fleet.known(s, asset_id)
            if info is None:
                continue
            if info.kind == c.AssetKind.STREETLIGHT:
                actions += self._lamp(asset_id, obs, t)
                if info.cabinet:
                    cabinets[info.cabinet] = max(cabinets.get(info.cabinet, 0), t)
            elif info.kind == c.AssetKind.BIN:
                actions += self._bin(asset_id, obs, t, quality=quality.get((asset_id, t), "good"))
            elif info.kind == c.AssetKind.CROWD and self.watch is not None:
                self._crowd(s, asset_id, obs, t)
        return actions

    def _on_events(self, s: Session, events: Events) -> list[Action]:
        actions: list[Action] = []
        for e in events.events:
            info = self.fleet.known(s, e.asset)
            if info is None:
                continue
            if info.kind == c.AssetKind.BIN:
                actions += self._bin(e.asset, None, e.t, events={e.type: e.active})
            elif info.kind == c.AssetKind.CAMERA:
                self.evaluations += 1
                if self.watch is not None:
                    self.watch.camera(info.device, e.type, e.active)
                actions += camera_event(
                    asset=e.asset,
                    event_type=e.type,
                    active=e.active,
                    values=e.values,
                    p=info.camera,
                )
        return actions

    def _lamp(self, asset_id: str, obs: dict[str, Any] | None, t: int) -> list[Action]:
        info = self.fleet.assets[asset_id]
        old = self.lamps.get(asset_id, LampState())
        new, actions = lamp_step(
            old, obs, asset=asset_id, t_ms=t, lat=info.lat, lon=info.lon, p=info.lamp
        )
        self._store(f"lamp:{asset_id}", self.lamps, asset_id, old, new)
        return actions

    def _bin(
        self,
        asset_id: str,
        obs: dict[str, Any] | None,
        t: int,
        *,
        quality: str = "good",
        events: dict[str, bool] | None = None,
    ) -> list[Action]:
        info = self.fleet.assets[asset_id]
        old = self.bins.get(asset_id, BinState())
        new, actions = bin_step(
            old,
            obs,
            asset=asset_id,
            t_ms=t,
            p=info.bin,
            quality=quality,
            events=events,
            floor_ms=self.floor_ms,
            heard=self.attention,
        )
        self._store(f"bin:{asset_id}", self.bins, asset_id, old, new)
        return actions

    def _cabinet(self, cabinet: str, t: int, *, tick: bool = False) -> list[Action]:
        lamps = self.fleet.cabinet_lamps.get(cabinet, set())
        out = None if tick else sum(1 for a in lamps if self._clearly_out(a, t))
        old = self.cabinets.get(cabinet, CabinetState())
        params = CabinetParams()
        new, actions = cabinet_step(
            old, cabinet=cabinet, lamps_out=out, lamps_total=len(lamps), t_ms=t, p=params
        )
        self._store(f"cabinet:{cabinet}", self.cabinets, cabinet, old, new)
        return actions

    def _clearly_out(self, lamp: str, t: int) -> bool:
        st, info = self.lamps.get(lamp), self.fleet.assets.get(lamp)
        if st is None or st.out_signal != "set":
            return False
        if info is None:
            return True
        dark = LampParams().dark_below_deg - DUSK_MARGIN_DEG
        return st.lux_ms is not None or sun_at(info.lat, info.lon, t) < dark

    def _crowd(self, s: Session, zone: str, obs: dict[str, Any] | None, t: int) -> None:
        """One crowd zone's reading or tick through the crowd rules into alerts."""
        assert self.watch is not None
        info = self.fleet.assets[zone]
        old = self.crowds.get(zone, CrowdState())
        run = self.watch.running.get(zone)
        dev = self.devices.get(info.device)
        blind = self.watch.blind_camera(info.device) or (dev is not None and not dev.online)
        new, actions = crowd_step(
            old,
            obs,
            zone=zone,
            t_ms=t,
            p=info.crowd,
            phase=run.phase if run is not None else None,
            blind=blind,
        )
        self._store(f"crowd:{zone}", self.crowds, zone, old, new)
        self.watch.apply(s, actions, now=self.clock.now(), places={zone: info.address})

    def _crowd_tick(self, s: Session, now_ms: int, *, escalate: bool = True) -> None:
        if self.watch is None:
            return
        zones = {
            a: info.device
            for a, info in self.fleet.assets.items()
            if info.kind == c.AssetKind.CROWD and self._mine(info.device)
        }
        self.watch.tick(s, now=self.clock.now(), devices=zones, escalate=escalate)
        for zone in sorted(zones):
            self._crowd(s, zone, None, now_ms)

    def _alerts(self, s: Session, actions: list[Action]) -> None:
        """A bin fire is an alert too (its ticket stays, opened by :meth:`_apply`)."""
        if self.watch is None:
            return
        fires: list[AlertAction] = []
        for a in actions:
            if a.alarm != FIRE:
                continue
            if isinstance(a, Raise):
                figures = {k: v for k, v in a.details.items() if isinstance(v, int | float)}
                fires.append(AlertRaise(a.asset, "binFire", "Severe", dict(figures)))
            else:
                fires.append(AlertClear(a.asset, "binFire"))
        places = {a.zone: info.address for a in fires if (info := self.fleet.assets.get(a.zone))}
        self.watch.apply(s, fires, now=self.clock.now(), places=places)

    def _link(self, up: bool, now_ms: int) -> None:
        """The hub's broker link went down or came back: like a hub start, silence counts
        again from now + grace, so devices still in their reconnect back-off are not
        declared offline."""
        self.link_up = up
        self.floor_ms = max(self.floor_ms, now_ms + int(self.offline_grace_s * 1000))

    def _restart_silence(self, at_ms: int) -> None:
        """Most of the fleet fell silent at once (a hub, broker or network cause): sensors
        get the same grace as after a hub start, while their devices reconnect."""
        self.floor_ms = max(self.floor_ms, at_ms + int(self.offline_grace_s * 1000))

    def _device(self, device: str, t: int, status: DeviceStatus | None = None) -> list[Action]:
        old = self.devices.get(device, DeviceState())
        new, actions = device_step(
            old,
            device=device,
            t_ms=t,
            p=DeviceParams(min_off_s=self.offline_grace_s),
            status=status,
        )
        self._store(f"device:{device}", self.devices, device, old, new)
        return actions

    def _store(self, key: str, store: dict[str, Any], ident: str, old: Any, new: Any) -> None:
        self.evaluations += 1
        store[ident] = new
        if replace(new, last_ms=old.last_ms) != old:
            self._dirty.add(key)

    # ---- applying --------------------------------------------------------------------
    def _suppressor(self, action: Raise) -> str | None:
        """The active root cause that hides this alarm ("type:asset"), if any."""
        if action.alarm == DEVICE_OFFLINE:
            return None
        device = self.fleet.device_of(action.asset)
        dev_state = self.devices.get(device) if device else None
        if dev_state is not None and dev_state.offline.active:
            return f"{DEVICE_OFFLINE}:{device}"
        info = self.fleet.assets.get(action.asset)
        if info and info.cabinet and action.alarm in SUPPRESSED_BY_CABINET:
            cab = self.cabinets.get(info.cabinet)
            if cab is not None and cab.out.active:
                return f"{CABINET_OUT}:{info.cabinet}"
        return None

    def _apply(self, s: Session, actions: list[Action]) -> None:
        if not actions:
            return
        now = self.clock.now()
        for action in actions:
            if isinstance(action, Raise):
                outcome = alarms.raise_alarm(
                    s,
                    asset_id=action.asset,
                    alarm_type=action.alarm,
                    severity=action.severity,
                    now=now,
                    details=dict(action.details),
                    place=self.fleet.place(action.asset),
                    suppressed_by=self._suppressor(action),
                )
                self.tickets_opened += int(outcome.created)
                if outcome.created or outcome.reopened:
                    log.info("%s on %s -> ticket %s", action.alarm, action.asset, outcome.ticket_id)
            else:
                alarms.clear_alarm(
                    s,
                    asset_id=action.asset,
                    alarm_type=action.alarm,
                    now=now,
                    hold=self.fleet.hold(action.asset),
                )
                if action.alarm in (CABINET_OUT, DEVICE_OFFLINE):
                    root = f"{action.alarm}:{action.asset}"
                    settle = timedelta(seconds=self.settle_s)
                    alarms.release_suppressed(s, root=root, now=now, settle=settle)

    def _persist(self, s: Session) -> None:
        if not self._dirty:
            return
        now = self.clock.now()
        families = self._families()
        rows = []
        for key in sorted(self._dirty):
            family, _, ident = key.partition(":")
            rows.append(
                {"key": key, "state": codec.dump(families[family][0][ident]), "updated_at": now}
            )
        upsert(s, RuleState, rows, key="key")
        self._dirty.clear()
