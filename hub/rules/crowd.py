"""Crowd safety rules per zone: level of service, rising density, over capacity, blind. Pure.

A zone is a crowd asset (``<device>-crowd0``) with its area, capacity and Fruin scale in its
properties. The level of service is the hub's own reading of the density on the zone's
scale (:mod:`trygg.fruin`, the one table), not the edge's letter, so a zone configured as a
queue is judged as one. A running event phase (:mod:`hub.alerts.schedule`) multiplies the
thresholds and minimum durations by its tightening.

=================  ========================================  ==================================
alert              set                                       clear
=================  ========================================  ==================================
crowdLevel         density >= the E bound (Severe) or the    density < E bound x
                   F bound (Extreme), held ``los_min_s``     ``clear_ratio``, held ``los_off_s``
crowdRising        density rose >= ``rise_per_min`` /min     rise < half that, held
(Moderate; Severe  over ``rise_window_s``, held              ``rise_off_s``
in egress)         ``rise_min_s``
crowdOverCapacity  occupancy >= ``over_ratio``, held         occupancy < ``over_ratio`` x
(Severe)           ``over_min_s``                            ``clear_ratio``, held ``over_off_s``
zoneBlind          an event runs at the zone and its         camera healthy and pole online,
(Severe)           camera is faulty or its pole offline,     or no event; held ``blind_off_s``
                   held ``blind_min_s``
=================  ========================================  ==================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from hub.alerts.model import AlertAction, AlertClear, AlertRaise, Figure, Kind, Severity
from hub.alerts.schedule import NONE, Phase
from hub.rules.condition import IDLE, Debounce, Flip, Signal, debounce
from hub.rules.params import bounded, from_properties
from trygg.fruin import QUEUE_BOUNDS, WALKWAY_BOUNDS, level_of_service

Scale = Literal["walkway", "queue"]
SCALES: Final[dict[str, tuple[float, ...]]] = {"walkway": WALKWAY_BOUNDS, "queue": QUEUE_BOUNDS}
Obs = Mapping[str, float | int | bool | str]


@dataclass(frozen=True, slots=True)
class CrowdParams:
    """Per-zone thresholds; property names are the camelCase (``zoneArea``, ``capacity``)."""

    zone_area: float = 0.0  # m², 0 = unknown: density only from the edge's reading
    capacity: float = 0.0  # persons, 0 = unknown: occupancy only from the edge's reading
    queue_scale: bool = False  # judged on Fruin's standing/queuing scale, else walkway
    clear_ratio: float = bounded(0.9, lo=0.5, hi=1.0)
    los_min_s: float = bounded(20.0, hi=3600.0)
    los_off_s: float = bounded(60.0, hi=3600.0)
    rise_per_min: float = bounded(0.5, lo=0.01)  # persons/m² per minute
    rise_window_s: float = bounded(60.0, lo=5.0, hi=3600.0)
    rise_min_s: float = bounded(5.0, hi=3600.0)
    rise_off_s: float = bounded(30.0, hi=3600.0)
    over_ratio: float = bounded(1.0, lo=0.1, hi=5.0)
    over_min_s: float = bounded(10.0, hi=3600.0)
    over_off_s: float = bounded(60.0, hi=3600.0)
    blind_min_s: float = bounded(30.0, hi=3600.0)
    blind_off_s: float = bounded(10.0, hi=3600.0)

    @property
    def scale(self) -> Scale:
        return "queue" if self.queue_scale else "walkway"


def crowd_params(properties: Mapping[str, Any]) -> tuple[CrowdParams, list[str]]:
    """A zone's parameters from its asset properties; ``scale`` is walkway or queue."""
    params, errors = from_properties(CrowdParams, properties)
    scale = properties.get("scale")
    if scale == "queue":
        params = replace(params, queue_scale=True)
    elif scale not in (None, "walkway"):
        errors.append(f"scale: expected walkway or queue, got {scale!r}")
    return params, errors


@dataclass(frozen=True, slots=True)
class CrowdState:
    level_e: Debounce = IDLE
    level_f: Debounce = IDLE
    rise: Debounce = IDLE
    over: Debounce = IDLE
    blind: Debounce = IDLE
    densities: tuple[tuple[int, float], ...] = ()  # (t_ms, persons/m²) within the rise window
    figures: tuple[tuple[str, float | int | str], ...] = ()  # the last reading's, for alerts
    last_ms: int = 0


def _num(obs: Obs, key: str) -> float | None:
    v = obs.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v) if math.isfinite(v) and v >= 0 else None


def _band(value: float | None, set_at: float, clear_below: float) -> Signal | None:
    if value is None:
        return None
    return "set" if value >= set_at else ("clear" if value < clear_below else "band")


def _rise_per_min(points: tuple[tuple[int, float], ...], window_s: float) -> float | None:
    """Density change per minute over the window; None until half a window is covered."""
    if len(points) < 2:
        return None
    span_ms = points[-1][0] - points[0][0]
    if span_ms < window_s * 500:
        return None
    return (points[-1][1] - points[0][1]) / (span_ms / 60_000)


def _act(
    zone: str, kind: Kind, flip: Flip | None, sev: Severity, figs: dict[str, Figure]
) -> list[AlertAction]:
    if flip == "set":
        return [AlertRaise(zone, kind, sev, dict(figs))]
    return [AlertClear(zone, kind)] if flip == "clear" else []


def crowd_step(
    state: CrowdState,
    obs: Obs | None,
    *,
    zone: str,
    t_ms: int,
    p: CrowdParams,
    phase: Phase | None = None,
    blind: bool = False,
) -> tuple[CrowdState, list[AlertAction]]:
    """One crowd reading (``obs``) or a tick (``obs`` None) for ``zone`` at ``t_ms`` (UTC).

    ``phase`` is the event phase running at the zone (None: no event); ``blind`` says its
    camera is faulty or its pole offline. Returns the new state and the alert actions.
    """
    t_ms = max(t_ms, state.last_ms)
    tight = phase.tightening if phase is not None else NONE
    k, d = tight.threshold_factor, tight.duration_factor
    obs = obs or {}
    count = _num(obs, "peopleCount")
    density = _num(obs, "peopleDensity")
    if density is None and count is not None and p.zone_area > 0:
        density = count / p.zone_area
    occupancy = _num(obs, "occupancy")
    if occupancy is None and count is not None and p.capacity > 0:
        occupancy = count / p.capacity

    figures = dict(state.figures)
    if count is not None:
        figures["peopleCount"] = round(count)
    if density is not None:
        figures["peopleDensity"] = round(density, 3)
        figures["levelOfService"] = level_of_service(density, SCALES[p.scale])
    if occupancy is not None:
        figures["occupancy"] = round(occupancy, 3)

    bounds = SCALES[p.scale]
    e_at, f_at = bounds[3] * k, bounds[4] * k
    level_e, flip_e = debounce(
        state.level_e,
        _band(density, e_at, e_at * p.clear_ratio),
        t_ms=t_ms,
        min_on_s=p.los_min_s * d,
        min_off_s=p.los_off_s * d,
    )
    level_f, flip_f = debounce(
        state.level_f,
        _band(density, f_at, f_at * p.clear_ratio),
        t_ms=t_ms,
        min_on_s=p.los_min_s * d,
        min_off_s=p.los_off_s * d,
    )

    points = state.densities
    rise_sig: Signal | None = None
    if density is not None:
        horizon = t_ms - int(p.rise_window_s * 1000)
        points = tuple(x for x in (*points, (t_ms, density)) if x[0] >= horizon)[-120:]
        rate = _rise_per_min(points, p.rise_window_s)
        if rate is not None:
            figures["risePerMin"] = round(rate, 3)
            limit = p.rise_per_min * k
            rise_sig = _band(rate, limit, limit / 2)
    rise, flip_rise = debounce(
        state.rise, rise_sig, t_ms=t_ms, min_on_s=p.rise_min_s * d, min_off_s=p.rise_off_s * d
    )

    over_at = p.over_ratio * k
    over, flip_over = debounce(
        state.over,
        _band(occupancy, over_at, over_at * p.clear_ratio),
        t_ms=t_ms,
        min_on_s=p.over_min_s * d,
        min_off_s=p.over_off_s * d,
    )

    blind_sig: Signal = "set" if blind and phase is not None else "clear"
    blind_db, flip_blind = debounce(
        state.blind, blind_sig, t_ms=t_ms, min_on_s=p.blind_min_s * d, min_off_s=p.blind_off_s
    )

    figs: dict[str, Figure] = dict(sorted(figures.items()))
    actions: list[AlertAction] = []
    if flip_e == "clear" or (flip_f == "clear" and not level_e.active):
        actions.append(AlertClear(zone, "crowdLevel"))
        level_f = replace(level_f, active=False) if level_f.active else level_f
    elif level_f.active and (flip_f == "set" or flip_e == "set"):
        actions.append(AlertRaise(zone, "crowdLevel", "Extreme", figs))
    elif flip_e == "set":
        actions.append(AlertRaise(zone, "crowdLevel", "Severe", figs))
    rising: Severity = "Severe" if phase is not None and phase.name == "egress" else "Moderate"
    actions += _act(zone, "crowdRising", flip_rise, rising, figs)
    actions += _act(zone, "crowdOverCapacity", flip_over, "Severe", figs)
    actions += _act(zone, "zoneBlind", flip_blind, "Severe", figs)
    new = CrowdState(
        level_e=level_e,
        level_f=level_f,
        rise=rise,
        over=over,
        blind=blind_db,
        densities=points,
        figures=tuple(sorted(figures.items())),
        last_ms=t_ms,
    )
    return new, actions
