"""Device online/offline state, fused from three signals. Pure: no I/O, time passed in.

Why three signals (DOMAIN.md section 6): the Last Will is fast but can be lost or arrive
late; a heartbeat timeout is robust but slow; a sequence gap says data went missing. So:

* a birth (or a retained ``state`` with ``online=true``) of boot ``b`` >= the known boot
  makes the device online;
* a death (the Last Will, ``state`` with ``online=false``) makes it offline only if its boot
  is >= the known boot: a stale death of an earlier boot arriving after the new birth is
  ignored (Sparkplug's bdSeq rule);
* any message seen refreshes ``last_seen``; a device that went offline only because its
  heartbeat timed out comes back online when it is heard from again (a will-offline
  device needs a new birth/state, since a queued backlog is not a sign of life);
* :meth:`DeviceStates.tick` (called on a clock tick, so "no data" is noticed without any
  message arriving) marks offline every online device silent for longer than its class's
  heartbeat timeout. Timeouts count from ``max(last_seen, hub start + grace)``, so a hub
  restart does not produce a storm of false offline states. The same holds for the hub's
  own broker link (:meth:`DeviceStates.link`): while it is down the hub hears nobody, so
  silence is no evidence and nobody is declared offline; when it is back, the grace starts
  again, giving every device its reconnect back-off before its deadline counts. Time the
  hub itself was deaf (stalled, or behind a backlog: :mod:`hub.attention`) does not count
  either. When most of the fleet falls due in one tick anyway, the cause is still on the
  hub's side: the clock restarts instead (:func:`fleet_silent`);
* a gap in the sequence is recorded (count and time) and shown as ``suspect`` for one
  timeout period; it does not by itself flip the state.

This is the one owner of liveness: the ingest persists what it decides (the only writer of
``devices.online``), ``/devices`` shows it, and the device-offline rule
(:mod:`hub.rules.device`) consumes its transitions (:class:`Transition`), the tick's included,
rather than deciding again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Literal

from hub.attention import Attention

if TYPE_CHECKING:  # for annotations only: the contract's pydantic pulls in socket
    from trygg import contract as c

# A device may miss one heartbeat and be late with the next before it counts as silent.
HEARTBEAT_FACTOR = 2.5
# Most of a fleet silent at once is the hub's, broker's or network's fault, not the devices'.
MASS_SILENCE_SHARE = 0.5
MASS_SILENCE_MIN = 5

Reason = Literal["birth", "state", "will", "data", "heartbeat", "unknown"]


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    device: str
    device_class: str = "pole"
    heartbeat_s: float = 300.0
    boot: int = 0
    online: bool | None = None  # None: not heard from since it was registered
    reason: Reason = "unknown"
    changed_ms: int | None = None
    last_seen_ms: int | None = None
    firmware: str = ""
    outbox_depth: int = 0
    dropped: int = 0
    gaps: int = 0
    last_gap_ms: int | None = None


_FIELDS = tuple(f.name for f in fields(DeviceStatus))
_INDEX = {name: i for i, name in enumerate(_FIELDS)}
_values = attrgetter(*_FIELDS)


def _replace(old: DeviceStatus, **changes: Any) -> DeviceStatus:
    """``dataclasses.replace`` for :class:`DeviceStatus` without its generic overhead, since
    it runs for every device of every ingest batch: the fields read in one call, the changes
    put in place."""
    values = list(_values(old))
    for name, value in changes.items():
        values[_INDEX[name]] = value
    return DeviceStatus(*values)


@dataclass(frozen=True, slots=True)
class Transition:
    kind: Literal["online", "offline"]
    status: DeviceStatus


class DeviceStates:
    """The state of every known device; each method returns the transitions it caused."""

    def __init__(
        self,
        *,
        started_ms: int,
        grace_s: float,
        class_timeouts_s: Mapping[str, float] | None = None,
        attention: Attention | None = None,
    ) -> None:
        self.started_ms = started_ms
        self.attention = attention or Attention()
        self.grace_ms = int(grace_s * 1000)
        self.class_timeouts_s = dict(class_timeouts_s or {})
        self.devices: dict[str, DeviceStatus] = {}
        self.link_up = True
        self.mass_silences = 0  # ticks that found most of the fleet silent at once

    def link(self, *, up: bool, now_ms: int) -> None:
        """The hub's own broker link went down or came back (see the module docstring)."""
        self.link_up = up
        if up:
            self.started_ms = max(self.started_ms, now_ms)

    def load(self, statuses: Iterable[DeviceStatus]) -> None:
        for status in statuses:
            self.devices[status.device] = status

    def forget(self, device: str) -> None:
        """Stop following ``device`` (another partition serves it now)."""
        self.devices.pop(device, None)

    def get(self, device: str) -> DeviceStatus:
        return self.devices.get(device) or DeviceStatus(device=device)

    def timeout_s(self, status: DeviceStatus) -> float:
        """The class's configured timeout, else :data:`HEARTBEAT_FACTOR` x the device's own
        announced heartbeat."""
        configured = self.class_timeouts_s.get(status.device_class)
        return configured if configured is not None else status.heartbeat_s * HEARTBEAT_FACTOR

    def _set(self, old: DeviceStatus, new: DeviceStatus) -> Transition | None:
        self.devices[new.device] = new
        if new.online is not None and new.online != old.online:
            return Transition("online" if new.online else "offline", new)
        return None

    def on_birth(
        self,
        *,
        device: str,
        boot: int,
        device_class: str,
        heartbeat_s: float,
        firmware: str,
        now_ms: int,
    ) -> Transition | None:
        # A birth is always current (a re-flashed device's boot may even go backwards).
        old = self.get(device)
        new = _replace(
            old,
            boot=boot,
            device_class=device_class,
            heartbeat_s=heartbeat_s,
            firmware=firmware,
            last_seen_ms=max(old.last_seen_ms or 0, now_ms),
        )
        if old.online is not True:
            new = _replace(new, online=True, reason="birth", changed_ms=now_ms)
        return self._set(old, new)

    def on_state(self, *, device: str, boot: int, online: bool, now_ms: int) -> Transition | None:
        old = self.get(device)
        if boot < old.boot:
            return None  # stale: a will or state of an earlier boot
        new = _replace(old, boot=boot)
        if online:
            new = _replace(new, last_seen_ms=max(old.last_seen_ms or 0, now_ms))
        if online != old.online:
            new = _replace(
                new, online=online, reason="state" if online else "will", changed_ms=now_ms
            )
        return self._set(old, new)

    def on_seen(self, *, device: str, now_ms: int, boot: int | None = None) -> Transition | None:
        """A data/event message arrived (stored or duplicate)."""
        old = self.get(device)
        if old.online is True and (boot is None or boot <= old.boot):
            # The common case, once per device per batch: only last_seen can move.
            if old.last_seen_ms is None or now_ms > old.last_seen_ms:
                self.devices[device] = _replace(old, last_seen_ms=now_ms)
            return None
        new = _replace(old, last_seen_ms=max(old.last_seen_ms or 0, now_ms))
        newer_boot = boot is not None and boot > old.boot
        if newer_boot:
            new = _replace(new, boot=boot or old.boot)
        if old.online is not True and (old.reason in ("heartbeat", "unknown") or newer_boot):
            new = _replace(new, online=True, reason="data", changed_ms=now_ms)
        return self._set(old, new)

    def observe(
        self,
        *,
        births: Iterable[c.Birth],
        states: Iterable[c.State],
        seen: Mapping[str, int],
        now_ms: int,
    ) -> list[Transition]:
        """What one stored batch says about liveness: its births, then its states, then the
        devices it heard from (device -> boot of its last message)."""
        out: list[Transition] = []
        for b in births:
            t = self.on_birth(
                device=b.device,
                boot=b.boot,
                device_class=b.device_class,
                heartbeat_s=b.heartbeat_s,
                firmware=b.firmware,
                now_ms=now_ms,
            )
            if t is not None:
                out.append(t)
        for st in states:
            t = self.on_state(device=st.device, boot=st.boot, online=st.online, now_ms=now_ms)
            if t is not None:
                out.append(t)
        for device, boot in seen.items():
            t = self.on_seen(device=device, now_ms=now_ms, boot=boot)
            if t is not None:
                out.append(t)
        return out

    def on_gap(self, *, device: str, now_ms: int, count: int = 1) -> None:
        old = self.get(device)
        self.devices[device] = _replace(old, gaps=old.gaps + count, last_gap_ms=now_ms)

    def on_outbox(self, *, device: str, depth: int | None, dropped: int | None) -> None:
        old = self.get(device)
        self.devices[device] = _replace(
            old,
            outbox_depth=old.outbox_depth if depth is None else depth,
            dropped=old.dropped if dropped is None else dropped,
        )

    def suspect(self, status: DeviceStatus, now_ms: int) -> bool:
        """A gap was seen within the last timeout period."""
        return status.last_gap_ms is not None and (
            now_ms - status.last_gap_ms <= self.timeout_s(status) * 1000
        )

    def _silent_from(self, status: DeviceStatus) -> int:
        return max(status.last_seen_ms or 0, self.started_ms + self.grace_ms)

    def deadline_ms(self, status: DeviceStatus, now_ms: int | None = None) -> int:
        """When a silent online device will be declared offline (given ``now_ms``, later by
        the time the hub has been deaf so far)."""
        start = self._silent_from(status)
        deaf = 0 if now_ms is None else self.attention.deaf_ms(start, now_ms)
        return start + int(self.timeout_s(status) * 1000) + deaf

    def overdue(self, status: DeviceStatus, now_ms: int) -> bool:
        """Silent past its timeout, counting only the time the hub could have heard it."""
        start, timeout_ms = self._silent_from(status), int(self.timeout_s(status) * 1000)
        # Most devices were heard within their timeout: no need to ask about deaf time.
        return now_ms - start > timeout_ms and self.attention.silent_ms(start, now_ms) > timeout_ms

    def tick(self, now_ms: int) -> list[Transition]:
        """Offline every online device whose heartbeat deadline has passed. None while the
        hub's own link is down; and when most of the fleet is due at once
        (:func:`fleet_silent`) the cause is on the hub's side (it
        stalled, or is still working through a backlog), so the silence clock restarts
        instead, as after a hub start."""
        if not self.link_up:
            return []
        due = [s for s in self.devices.values() if s.online and self.overdue(s, now_ms)]
        if fleet_silent(len(due), len(self.devices)):
            self.started_ms = now_ms
            self.mass_silences += 1
            return []
        out: list[Transition] = []
        for status in due:
            t = self._set(
                status, _replace(status, online=False, reason="heartbeat", changed_ms=now_ms)
            )
            if t is not None:
                out.append(t)
        return out


def fleet_silent(silent: int, fleet: int) -> bool:
    """Too many devices silent at once to be device faults: a hub, broker or network cause."""
    return silent >= MASS_SILENCE_MIN and silent >= MASS_SILENCE_SHARE * fleet


def parse_class_timeouts(text: str) -> dict[str, float]:
    """``"pole=600,camera=120"`` -> {"pole": 600.0, "camera": 120.0}; ValueError when bad."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"heartbeat timeout {part!r}: expected class=seconds")
        seconds = float(value)
        if not seconds > 0:
            raise ValueError(f"heartbeat timeout {part!r}: seconds must be > 0")
        out[name.strip()] = seconds
    return out
