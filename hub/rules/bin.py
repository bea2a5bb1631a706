"""Waste bin rules: full, forecast full, fire, tilted and a dead level sensor. Pure.

==================  ========================================  ==================================
alarm               set                                       clear
==================  ========================================  ==================================
binFull             fill >= the bin's ``fullnessThreshold``   fill < threshold - ``full_margin``
                    held ``full_min_s``                       held ``full_off_s``
binForecastFull     not full, and the fill rate (least        full, emptied, or the forecast is
                    squares over the recent hours) reaches    beyond ``forecast_hours`` x
                    the threshold within ``forecast_hours``   ``forecast_clear_factor``
binFire             temperature >= ``fire_c``, or a rise of   temperature < ``fire_clear_c``
(critical)          ``fire_rise_c`` within ``fire_rise_s``,   held ``fire_off_s``
                    or the edge's ``temperatureJump`` event
binTilted           ``tilted`` reading or ``tilt`` event,     upright reading / event inactive,
                    held ``tilt_min_s``                       held ``tilt_off_s``
binSensorDead       no good level reading for                 a good level reading
                    ``sensor_timeout_s`` (ticks, counted
                    from the hub's start + grace at the
                    earliest), or ``bad_readings`` in a row,
                    or the edge's ``sensorFault`` event
                    active for ``sensor_fault_s``
==================  ========================================  ==================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from hub.attention import Attention
from hub.rules.actions import Action, Clear, Raise, Severity
from hub.rules.condition import IDLE, Debounce, Flip, Signal, debounce
from hub.rules.params import bounded

FULL, FORECAST, FIRE, TILTED, SENSOR_DEAD = (
    "binFull",
    "binForecastFull",
    "binFire",
    "binTilted",
    "binSensorDead",
)
Obs = Mapping[str, float | int | bool | str]


@dataclass(frozen=True, slots=True)
class BinParams:
    fullness_threshold: float = bounded(0.8, lo=0.05, hi=1.0)
    full_margin: float = bounded(0.1, hi=0.5)
    full_min_s: float = 600.0
    full_off_s: float = 120.0
    forecast_hours: float = bounded(6.0, lo=0.1, hi=168.0)
    forecast_clear_factor: float = bounded(1.5, lo=1.0)
    forecast_window_s: float = bounded(6 * 3600.0, lo=600.0)
    forecast_min_span_s: float = 1800.0
    forecast_sample_s: float = 300.0
    emptied_drop: float = bounded(0.2, lo=0.01, hi=1.0)
    fire_c: float = 70.0
    fire_clear_c: float = 45.0
    fire_rise_c: float = 15.0
    fire_rise_s: float = bounded(600.0, lo=1.0)
    fire_off_s: float = 600.0
    tilt_min_s: float = 0.0
    tilt_off_s: float = 60.0
    sensor_timeout_s: float = bounded(7200.0, lo=1.0)
    bad_readings: int = 3
    # The edge's ``sensorFault`` event (a sensor that does not answer) held this long.
    sensor_fault_s: float = bounded(600.0, lo=0.0)


@dataclass(frozen=True, slots=True)
class BinState:
    full: Debounce = IDLE
    forecast: Debounce = IDLE
    fire: Debounce = IDLE
    tilt: Debounce = IDLE
    dead: Debounce = IDLE
    levels: tuple[tuple[int, float], ...] = ()  # (t_ms, fill) for the fill-rate fit
    temps: tuple[tuple[int, float], ...] = ()
    level: float | None = None
    last_good_ms: int | None = None
    bad_run: int = 0
    hours_to_full: float | None = None
    rate: float | None = None  # fill per hour, from the last fit
    fault_ms: int | None = None  # since when the edge reports a sensor not answering
    last_ms: int = 0


def fill_rate_per_hour(levels: tuple[tuple[int, float], ...]) -> float | None:
    """Least-squares slope of fill over time, per hour; None with too little data."""
    if len(levels) < 3:
        return None
    t0 = levels[0][0]
    xs = [(t - t0) / 3_600_000 for t, _ in levels]
    ys = [v for _, v in levels]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def _num(obs: Obs, key: str) -> float | None:
    v = obs.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _act(
    asset: str, alarm: str, flip: Flip | None, sev: Severity, det: dict[str, float]
) -> list[Action]:
    if flip == "set":
        return [Raise(asset, alarm, sev, dict(det))]
    return [Clear(asset, alarm)] if flip == "clear" else []


def _silent_ms(since_ms: int, t_ms: int, heard: Attention | None) -> int:
    return t_ms - since_ms if heard is None else heard.silent_ms(since_ms, t_ms)


def bin_step(
    state: BinState,
    obs: Obs | None,
    *,
    asset: str,
    t_ms: int,
    p: BinParams,
    quality: str = "good",
    events: Mapping[str, bool] | None = None,
    floor_ms: int = 0,
    heard: Attention | None = None,
) -> tuple[BinState, list[Action]]:
    """One bin observation, edge events (type -> active) and/or a tick (``obs`` None).

    ``floor_ms`` is the earliest time a silence may count from (hub start + grace), so a
    restarted hub does not call every bin's sensor dead at once; time the hub could not
    hear (``heard``, :mod:`hub.attention`) does not count either.
    """
    t_ms = max(t_ms, state.last_ms)
    obs = obs or {}
    events = events or {}
    level = _num(obs, "fillingLevel")
    if level is not None and not 0.0 <= level <= 1.0:
        level, quality = None, "bad"
    has_level = "fillingLevel" in obs or "distance" in obs
    bad_run, last_good = state.bad_run, state.last_good_ms
    if has_level:
        if quality == "bad" or level is None:
            bad_run += 1
        else:
            bad_run, last_good = 0, t_ms
    levels, cur, emptied, rate = state.levels, state.level, False, state.rate
    if level is not None and quality != "bad":
        if cur is not None and cur - level >= p.emptied_drop:
            levels, emptied = (), True  # emptied: the old slope says nothing about the new fill
        # The fit uses one point per ``forecast_sample_s``: the same answer as every
        # reading for a slowly filling bin, at a fraction of the cost per reading.
        if not levels or t_ms - levels[-1][0] >= p.forecast_sample_s * 1000:
            horizon = t_ms - p.forecast_window_s * 1000
            levels = tuple(x for x in (*levels, (t_ms, level)) if x[0] >= horizon)[-48:]
            rate = fill_rate_per_hour(levels)
        cur = level
    det: dict[str, float] = {"fillingLevel": cur} if cur is not None else {}
    thr = p.fullness_threshold

    full_sig: Signal | None = None
    if level is not None and quality != "bad":
        full_sig = "set" if level >= thr else ("clear" if level < thr - p.full_margin else "band")
    full, f_full = debounce(
        state.full, full_sig, t_ms=t_ms, min_on_s=p.full_min_s, min_off_s=p.full_off_s
    )

    hours: float | None = state.hours_to_full
    fc_sig: Signal | None = None
    if level is not None and quality != "bad":
        span = (levels[-1][0] - levels[0][0]) / 1000 if levels else 0.0
        hours = (thr - level) / rate if rate and rate > 0 and level < thr else None
        if full.active or level >= thr or emptied:
            fc_sig = "clear"
        elif span < p.forecast_min_span_s:
            fc_sig = "band"
        elif hours is None:
            fc_sig = "clear"  # steady or falling
        elif hours <= p.forecast_hours:
            fc_sig = "set"
        else:
            fc_sig = "clear" if hours > p.forecast_hours * p.forecast_clear_factor else "band"
    forecast, f_fc = debounce(state.forecast, fc_sig, t_ms=t_ms, min_on_s=0.0, min_off_s=0.0)
    if hours is not None:
        det = {**det, "hoursToFull": round(hours, 2)}

    temp = _num(obs, "temperature")
    temps = state.temps
    fire_sig: Signal | None = None
    if temp is not None:
        temps = tuple(x for x in (*temps, (t_ms, temp)) if t_ms - x[0] <= p.fire_rise_s * 1000)[
            -32:
        ]
        rise = temp - min(v for _, v in temps)
        det = {**det, "temperature": temp, "riseC": round(rise, 2)}
        if temp >= p.fire_c or rise >= p.fire_rise_c:
            fire_sig = "set"
        else:
            fire_sig = "clear" if temp < p.fire_clear_c else "band"
    if events.get("temperatureJump"):
        fire_sig = "set"
    fire, f_fire = debounce(state.fire, fire_sig, t_ms=t_ms, min_on_s=0.0, min_off_s=p.fire_off_s)

    tilted = obs.get("tilted")
    tilt_sig: Signal | None = None
    if isinstance(tilted, bool):
        tilt_sig = "set" if tilted else "clear"
    if "tilt" in events:
        tilt_sig = "set" if events["tilt"] else "clear"
    tilt, f_tilt = debounce(
        state.tilt, tilt_sig, t_ms=t_ms, min_on_s=p.tilt_min_s, min_off_s=p.tilt_off_s
    )

    fault_ms = state.fault_ms
    if "sensorFault" in events:
        fault_ms = (fault_ms if fault_ms is not None else t_ms) if events["sensorFault"] else None
    if last_good == t_ms:
        fault_ms = None  # a good level reading: the sensor answers again
    silent_from = max(last_good if last_good is not None else floor_ms, floor_ms)
    dead_sig: Signal = "clear"
    if (
        bad_run >= p.bad_readings
        or (silent_from > 0 and _silent_ms(silent_from, t_ms, heard) >= p.sensor_timeout_s * 1000)
        or (fault_ms is not None and t_ms - fault_ms >= p.sensor_fault_s * 1000)
    ):
        dead_sig = "set"
    elif has_level and bad_run > 0:
        dead_sig = "band"
    dead, f_dead = debounce(state.dead, dead_sig, t_ms=t_ms, min_on_s=0.0, min_off_s=0.0)

    new = replace(
        state,
        full=full,
        forecast=forecast,
        fire=fire,
        tilt=tilt,
        dead=dead,
        levels=levels,
        temps=temps,
        level=cur,
        last_good_ms=last_good,
        bad_run=bad_run,
        hours_to_full=hours,
        rate=rate,
        fault_ms=fault_ms,
        last_ms=t_ms,
    )
    dead_det = {"badReadings": float(bad_run)}
    if last_good is not None:
        dead_det["silentS"] = round((t_ms - last_good) / 1000, 1)
    return new, [
        *_act(asset, FIRE, f_fire, "critical", det),
        *_act(asset, TILTED, f_tilt, "major", det),
        *_act(asset, FULL, f_full, "minor", det),
        *_act(asset, FORECAST, f_fc, "warning", det),
        *_act(asset, SENSOR_DEAD, f_dead, "minor", dead_det),
    ]
