"""Device offline: the Pi on the pole stopped talking. Pure.

Whether a device is online is decided once, by :mod:`hub.device_state` (its Last Will,
heartbeat timeouts counting only time the hub could hear, a hub restart's grace, the
mass-silence guard); this rule consumes that owner's transitions and turns them into the
``deviceOffline`` alarm.

Set: offline held ``min_off_s`` (a quick reconnect after an agent restart is not a ticket).
Clear: the owner says the device is online again.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.device_state import DeviceStatus
from hub.rules.actions import Action, Clear, Raise
from hub.rules.condition import IDLE, Debounce, Signal, debounce

DEVICE_OFFLINE = "deviceOffline"


@dataclass(frozen=True, slots=True)
class DeviceParams:
    min_off_s: float = 120.0


@dataclass(frozen=True, slots=True)
class DeviceState:
    offline: Debounce = IDLE
    online: bool = True  # the liveness owner's last word
    will: bool = False  # offline by its Last Will (else by silence)
    last_seen_ms: int | None = None
    last_ms: int = 0


def device_step(
    state: DeviceState,
    *,
    device: str,
    t_ms: int,
    p: DeviceParams,
    status: DeviceStatus | None = None,
) -> tuple[DeviceState, list[Action]]:
    """A transition of the liveness owner (``status``) or, without one, a tick."""
    t_ms = max(t_ms, state.last_ms)
    online, will, last_seen = state.online, state.will, state.last_seen_ms
    if status is not None and status.online is not None:
        online, will = status.online, status.reason == "will"
        last_seen = status.last_seen_ms
    signal: Signal = "clear" if online else "set"
    offline, flip = debounce(state.offline, signal, t_ms=t_ms, min_on_s=p.min_off_s, min_off_s=0.0)
    new = DeviceState(offline, online, will, last_seen, t_ms)
    if flip == "set":
        details: dict[str, float | int | str | bool] = {
            "reason": "lastWill" if will else "heartbeatTimeout"
        }
        if last_seen is not None:
            details["silentS"] = round((t_ms - last_seen) / 1000, 1)
        return new, [Raise(device, DEVICE_OFFLINE, "major", details)]
    if flip == "clear":
        return new, [Clear(device, DEVICE_OFFLINE)]
    return new, []
