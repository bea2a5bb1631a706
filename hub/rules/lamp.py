"""Streetlight rules: out at night, day-burning, flicker and power drop. Pure.

Whether a lamp should be lit comes from the lux sensor when the pole has a recent reading,
otherwise from the sun's elevation at the pole (``trygg.sun``, cached per place and minute).
Between "dark" and "day" lies a twilight band in which neither lamp-out nor day-burning is
judged: photocells switch anywhere in it, and around midsummer in Solna the sun never gets
much below -7 degrees, so the night is a two-hour window rather than a long dark period.

===========  ==========================================  =====================================
alarm        set (held ``*_min_s``)                       clear (held ``*_off_s``)
===========  ==========================================  =====================================
lampOut      dark and not lit (off, or "on" with no       lit (on and drawing current)
             current)
dayBurning   day and lit                                 not lit
flicker      >= ``flicker_toggles`` on/off changes in     no change in the window
             ``flicker_window_s``
powerDrop    lit at full power and power < ``drop`` x     power >= ``recover`` x baseline
             the lamp's own learned baseline
===========  ==========================================  =====================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from hub.rules.actions import Action, Clear, Raise, Severity
from hub.rules.condition import IDLE, Debounce, Flip, Signal, debounce
from hub.rules.params import bounded
from trygg.clock import from_ms
from trygg.sun import sun_elevation

LAMP_OUT, DAY_BURNING, FLICKER, POWER_DROP = "lampOut", "dayBurning", "flicker", "powerDrop"
MAINS_V = 230.0
Light = Literal["dark", "twilight", "day"]
Obs = Mapping[str, float | int | bool | str]


@dataclass(frozen=True, slots=True)
class LampParams:
    dark_below_deg: float = bounded(-6.0, lo=-18.0, hi=10.0)
    day_above_deg: float = bounded(2.0, lo=-6.0, hi=30.0)
    dark_lux: float = 10.0
    light_lux: float = 100.0
    lux_max_age_s: float = 900.0
    min_current_a: float = 0.02
    lamp_out_min_s: float = 120.0
    lamp_out_off_s: float = 60.0
    day_burn_min_s: float = 900.0
    day_burn_off_s: float = 60.0
    flicker_window_s: float = bounded(600.0, lo=1.0)
    flicker_toggles: int = 6
    flicker_off_s: float = 300.0
    power_drop_ratio: float = bounded(0.8, hi=1.0)
    power_recover_ratio: float = bounded(0.9, hi=1.0)
    power_drop_min_s: float = 600.0
    power_drop_off_s: float = 600.0
    baseline_samples: int = 10
    baseline_alpha: float = bounded(0.02, hi=1.0)
    rated_power_kw: float = 0.0  # > 0 seeds the baseline instead of learning it


@dataclass(frozen=True, slots=True)
class LampState:
    out: Debounce = IDLE
    day_burn: Debounce = IDLE
    flicker: Debounce = IDLE
    power_drop: Debounce = IDLE
    out_signal: str | None = None  # raw "dark and unlit" now; the cabinet rule reads it
    power_state: str | None = None
    toggles: tuple[int, ...] = ()
    baseline_kw: float = 0.0
    baseline_n: int = 0
    lux: float | None = None
    lux_ms: int | None = None
    last_ms: int = 0


SUN_GRID_DEG = 0.1


def sun_at(lat: float, lon: float, t_ms: int) -> float:
    """Sun elevation at the pole, on a 0.1-degree grid (~11 km): across that distance the
    elevation differs by under 0.05 degrees, and one cached astral call per grid cell and
    minute then serves every lamp in a city district (``trygg.sun`` caches per minute)."""
    return sun_elevation(
        round(lat / SUN_GRID_DEG) * SUN_GRID_DEG,
        round(lon / SUN_GRID_DEG) * SUN_GRID_DEG,
        from_ms(t_ms),
    )


def light_at(
    state: LampState,
    p: LampParams,
    *,
    lat: float,
    lon: float,
    t_ms: int,
    elevation: float | None = None,
) -> Light:
    """Dark, twilight or day at the pole: by its lux sensor if recent, else by the sun
    (``elevation`` if the caller already has it)."""
    fresh = state.lux_ms is not None and t_ms - state.lux_ms <= p.lux_max_age_s * 1000
    if state.lux is not None and fresh:
        if state.lux < p.dark_lux:
            return "dark"
        return "day" if state.lux > p.light_lux else "twilight"
    if elevation is None:
        elevation = sun_at(lat, lon, t_ms)
    if elevation < p.dark_below_deg:
        return "dark"
    return "day" if elevation > p.day_above_deg else "twilight"


def _lit(obs: Obs, power_state: str | None, p: LampParams) -> bool | None:
    """Is the lamp giving light? None when this observation says nothing about it."""
    current = obs.get("intensity")
    power = obs.get("activePower")
    if "powerState" not in obs and current is None and power is None:
        return None
    if power_state not in ("on", "low"):
        return False if power_state == "off" else None
    if isinstance(current, int | float) and not isinstance(current, bool):
        return float(current) >= p.min_current_a
    if isinstance(power, int | float) and not isinstance(power, bool):
        return float(power) * 1000.0 / MAINS_V >= p.min_current_a
    return True


def _flip(
    asset: str, alarm: str, flip: Flip | None, severity: Severity, details: dict[str, float | str]
) -> list[Action]:
    if flip == "set":
        return [Raise(asset, alarm, severity, dict(details))]
    if flip == "clear":
        return [Clear(asset, alarm)]
    return []


def lamp_step(
    state: LampState,
    obs: Obs | None,
    *,
    asset: str,
    t_ms: int,
    lat: float,
    lon: float,
    p: LampParams,
) -> tuple[LampState, list[Action]]:
    """One lamp observation (fields sampled at ``t_ms``), or a clock tick when ``obs`` is None."""
    t_ms = max(t_ms, state.last_ms)
    obs = obs or {}
    lux = obs.get("illuminance")
    if isinstance(lux, int | float) and not isinstance(lux, bool):
        state = replace(state, lux=float(lux), lux_ms=t_ms)
    ps = obs.get("powerState")
    power_state = ps if isinstance(ps, str) else state.power_state
    toggles = state.toggles
    if isinstance(ps, str) and state.power_state is not None and ps != state.power_state:
        toggles = (*toggles, t_ms)
    toggles = tuple(x for x in toggles if t_ms - x <= p.flicker_window_s * 1000)[-64:]
    lit = _lit(obs, power_state, p)
    elevation = sun_at(lat, lon, t_ms)
    light = light_at(state, p, lat=lat, lon=lon, t_ms=t_ms, elevation=elevation)
    details: dict[str, float | str] = {
        "light": light,
        "powerState": power_state or "unknown",
        "sunElevation": round(elevation, 2),
    }
    for key in ("intensity", "activePower", "illuminance"):
        value = obs.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            details[key] = float(value)

    out_sig: Signal | None = None
    burn_sig: Signal | None = None
    if lit is not None:
        out_sig = "clear" if lit else ("set" if light == "dark" else "band")
        burn_sig = "clear" if not lit else ("set" if light == "day" else "band")
    if len(toggles) >= p.flicker_toggles:
        flicker_sig: Signal = "set"
    else:
        flicker_sig = "clear" if not toggles else "band"

    baseline, n = state.baseline_kw, state.baseline_n
    if n == 0 and p.rated_power_kw > 0:
        baseline, n = p.rated_power_kw, p.baseline_samples
    power = obs.get("activePower")
    drop_sig: Signal | None = None
    if lit and power_state == "on" and isinstance(power, int | float) and power > 0:
        kw = float(power)
        if n < p.baseline_samples:
            baseline, n, drop_sig = (baseline * n + kw) / (n + 1), n + 1, "band"
        else:
            ratio = kw / baseline if baseline > 0 else 1.0
            details["baselineKw"] = round(baseline, 5)
            details["ratio"] = round(ratio, 3)
            drop_sig = (
                "set"
                if ratio < p.power_drop_ratio
                else ("clear" if ratio >= p.power_recover_ratio else "band")
            )
            if not state.power_drop.active and drop_sig == "clear" and ratio <= 1.1:
                baseline += p.baseline_alpha * (kw - baseline)  # follows slow ageing only

    out, f_out = debounce(
        state.out, out_sig, t_ms=t_ms, min_on_s=p.lamp_out_min_s, min_off_s=p.lamp_out_off_s
    )
    burn, f_burn = debounce(
        state.day_burn, burn_sig, t_ms=t_ms, min_on_s=p.day_burn_min_s, min_off_s=p.day_burn_off_s
    )
    flick, f_flick = debounce(
        state.flicker, flicker_sig, t_ms=t_ms, min_on_s=0.0, min_off_s=p.flicker_off_s
    )
    drop, f_drop = debounce(
        state.power_drop,
        drop_sig,
        t_ms=t_ms,
        min_on_s=p.power_drop_min_s,
        min_off_s=p.power_drop_off_s,
    )
    new = LampState(
        out=out,
        day_burn=burn,
        flicker=flick,
        power_drop=drop,
        out_signal=out_sig if out_sig is not None else state.out_signal,
        power_state=power_state,
        toggles=toggles,
        baseline_kw=baseline,
        baseline_n=n,
        lux=state.lux,
        lux_ms=state.lux_ms,
        last_ms=t_ms,
    )
    actions = [
        *_flip(asset, LAMP_OUT, f_out, "major", details),
        *_flip(asset, DAY_BURNING, f_burn, "minor", details),
        *_flip(asset, FLICKER, f_flick, "minor", {**details, "toggles": float(len(toggles))}),
        *_flip(asset, POWER_DROP, f_drop, "minor", details),
    ]
    return new, actions
