"""Device offline: the Pi on the pole stopped talking. Pure.

Two sources, fused: the device's retained state (its Last Will says ``online=false`` about
1.5 keep-alives after the link dies) and a heartbeat timeout (no message for
``heartbeat_factor`` x the device's announced ``heartbeat_s``). Silence counts from
``floor_ms`` at the earliest — the hub's start plus a grace period — so a hub that was
down does not declare the whole fleet offline the moment it comes back; and time in which
the hub itself could not hear (``heard``: it stalled, or is behind a backlog; see
:mod:`hub.attention`) is not the device's silence.

Set: offline (will, or heartbeat timeout) held ``min_off_s`` (a quick reconnect after an
agent restart is not a ticket). Clear: the device is online and has been heard from.

Root cause: when most of the fleet goes silent at once (:func:`fleet_silent`), the fault is
on the hub's side of the link — the hub itself stalled, or the broker or the mobile network
is down — not in each device, so the engine restarts the silence clock (``floor_ms``)
instead of opening one ticket per device.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.attention import Attention
from hub.rules.actions import Action, Clear, Raise
from hub.rules.condition import IDLE, Debounce, Signal, debounce

DEVICE_OFFLINE = "deviceOffline"


@dataclass(frozen=True, slots=True)
class DeviceParams:
    heartbeat_s: float = 300.0
    heartbeat_factor: float = 2.0
    min_off_s: float = 120.0


@dataclass(frozen=True, slots=True)
class DeviceState:
    offline: Debounce = IDLE
    online: bool = True  # from the last State message
    boot: int = 0
    last_seen_ms: int | None = None
    last_ms: int = 0


MASS_SILENCE_SHARE = 0.5
MASS_SILENCE_MIN = 5


def timed_out(
    state: DeviceState,
    *,
    t_ms: int,
    p: DeviceParams,
    floor_ms: int,
    heard: Attention | None = None,
) -> bool:
    """The device has been silent past its heartbeat timeout (its will aside), counting
    only the time the hub could have heard it."""
    silent_from = max(state.last_seen_ms or 0, floor_ms)
    timeout_ms = p.heartbeat_s * p.heartbeat_factor * 1000
    if silent_from <= 0 or t_ms - silent_from <= timeout_ms:
        return False
    return heard is None or heard.silent_ms(silent_from, t_ms) > timeout_ms


def fleet_silent(silent: int, fleet: int) -> bool:
    """Too many devices silent at once to be device faults: a hub, broker or network cause."""
    return silent >= MASS_SILENCE_MIN and silent >= MASS_SILENCE_SHARE * fleet


def device_step(
    state: DeviceState,
    *,
    device: str,
    t_ms: int,
    p: DeviceParams,
    online: bool | None = None,
    boot: int | None = None,
    seen: bool = False,
    floor_ms: int = 0,
    heard: Attention | None = None,
) -> tuple[DeviceState, list[Action]]:
    """A State message (``online``/``boot``), any other message (``seen``) or a tick.

    A death (``online=False``) from an earlier boot than the one already seen is stale
    (it arrived after the new birth) and is ignored.
    """
    t_ms = max(t_ms, state.last_ms)
    is_online, cur_boot, last_seen = state.online, state.boot, state.last_seen_ms
    if online is not None and not (boot is not None and boot < state.boot):
        is_online = online
        cur_boot = max(cur_boot, boot or 0)
        if online:
            last_seen = t_ms
    if seen:
        last_seen = t_ms
        is_online = True if online is None else is_online
    silent = timed_out(
        DeviceState(last_seen_ms=last_seen), t_ms=t_ms, p=p, floor_ms=floor_ms, heard=heard
    )
    signal: Signal = "set" if (not is_online or silent) else "clear"
    offline, flip = debounce(state.offline, signal, t_ms=t_ms, min_on_s=p.min_off_s, min_off_s=0.0)
    new = DeviceState(offline, is_online, cur_boot, last_seen, t_ms)
    if flip == "set":
        reason = "lastWill" if not is_online else "heartbeatTimeout"
        details: dict[str, float | int | str | bool] = {"reason": reason}
        if last_seen is not None:
            details["silentS"] = round((t_ms - last_seen) / 1000, 1)
        return new, [Raise(device, DEVICE_OFFLINE, "major", details)]
    if flip == "clear":
        return new, [Clear(device, DEVICE_OFFLINE)]
    return new, []
