"""Streetlight "out at night": the lamp reports off while the sun is below civil twilight.

Set: powerState off (or no current) while the sun is below -6 degrees at the pole, held for
``min_off_s``. Clear: the lamp reports on while it is dark. Daylight readings of "off" are
normal and neither set nor clear.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from hub.rules.actions import Action, Clear, Raise
from trygg.sun import CIVIL_TWILIGHT_DEG, sun_elevation

ALARM = "lampOut"


@dataclass(frozen=True, slots=True)
class LampOutState:
    off_since_ms: int | None = None
    active: bool = False


def lamp_out_step(
    state: LampOutState,
    *,
    asset: str,
    power_on: bool,
    t_ms: int,
    now: datetime,
    lat: float,
    lon: float,
    min_off_s: float = 0.0,
) -> tuple[LampOutState, list[Action]]:
    elevation = sun_elevation(lat, lon, now)
    if elevation >= CIVIL_TWILIGHT_DEG:
        return replace(state, off_since_ms=None), []
    if power_on:
        cleared: list[Action] = [Clear(asset, ALARM)] if state.active else []
        return LampOutState(), cleared
    since = state.off_since_ms if state.off_since_ms is not None else t_ms
    if not state.active and (t_ms - since) >= min_off_s * 1000:
        return LampOutState(off_since_ms=since, active=True), [
            Raise(asset, ALARM, "major", {"sunElevation": round(elevation, 2)})
        ]
    return replace(state, off_since_ms=since), []
