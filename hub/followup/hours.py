"""Hourly state durations and event counts per asset, from its readings. Pure.

What the follow-up figures need, per asset and UTC hour, as ``(field, value) -> seconds``:

==============  =====================================================================
``reporting``   ``heard`` / ``silent``: a reading of any field within ``hold_s`` before
``powerState``  each raw text state field (also ``levelOfService``, ``levelOfServiceQueue``)
                by value, ``unknown`` once its last reading is older than ``hold_s``
``lamp``        streetlights: ``lit``/``unlit``/``unknown`` + ``Dark``/``Day`` (the sun at
                the pole below civil twilight, ``trygg.sun``); ``amount`` = Wh drawn
``bin``         bins: ``full`` / ``notFull`` / ``unknown`` against the full threshold
``camera``      cameras: ``healthy`` / ``degraded`` / ``unknown`` by ``healthScore``
``event``       counts, not seconds: ``collection`` (fill level fell by ``collect_drop``),
                ``fire`` (temperature rose through ``fire_c``)
==============  =====================================================================

A reading holds its value until the next reading of that field, for at most ``hold_s``
or 2.5 times the gap since the field's reading before (so slow sensors are not "unknown"
between samples), never more than an hour; the caller gives readings from an hour before
the range so values held into it are seen. The same readings always give the same rows,
so recomputing an hour replaces it with an identical one.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from trygg.sun import is_dark

HOUR_MS: Final = 3_600_000
MINUTE_MS: Final = 60_000
HOLD_S: Final = 300.0
# A sensor sampled every 15 minutes is not unknown between samples: a reading holds for
# HOLD_GAPS times the gap before it (at least HOLD_S, at most MAX_HOLD_MS).
HOLD_GAPS: Final = 2.5
MAX_HOLD_MS: Final = HOUR_MS
MAINS_V: Final = 230.0
VALUE_MAX: Final = 32
TEXT_FIELDS: Final = ("powerState", "levelOfService", "levelOfServiceQueue")

Value = float | int | bool | str


@dataclass(frozen=True, slots=True)
class Obs:
    """One reading: field ``field`` was ``v`` at ``t_ms``."""

    t_ms: int
    field: str
    v: Value


@dataclass(frozen=True, slots=True)
class AssetInfo:
    """What classifying an asset's hours needs to know of it."""

    asset: str
    kind: str
    site: str
    lat: float
    lon: float
    full_threshold: float = 0.8
    fire_c: float = 70.0
    healthy_score: float = 0.6
    collect_drop: float = 0.3
    min_current_a: float = 0.02
    dark_below_deg: float = -6.0


@dataclass(frozen=True, slots=True)
class HourRow:
    """``seconds`` of ``hour_ms`` (UTC hour start) in which ``field`` was ``value``;
    ``amount`` a quantity accrued meanwhile (Wh), ``count`` events (field ``event``)."""

    asset: str
    kind: str
    site: str
    hour_ms: int
    field: str
    value: str
    seconds: float = 0.0
    amount: float = 0.0
    count: int = 0


class _Series:
    """One field's readings, looked up by time with a hold limit."""

    def __init__(self, obs: Sequence[Obs], hold_ms: int) -> None:
        self.t = [o.t_ms for o in obs]
        self.v = [o.v for o in obs]
        gaps = [0, *(b - a for a, b in itertools.pairwise(self.t))]
        self.hold = [max(hold_ms, min(int(HOLD_GAPS * g), MAX_HOLD_MS)) for g in gaps]

    def held_until(self) -> list[int]:
        return [t + h for t, h in zip(self.t, self.hold, strict=True)]

    def at(self, t_ms: int) -> Value | None:
        i = bisect.bisect_right(self.t, t_ms) - 1
        if i < 0 or t_ms - self.t[i] >= self.hold[i]:
            return None
        return self.v[i]


def _num(v: Value | None) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _classes(
    info: AssetInfo, series: Mapping[str, _Series], t_ms: int
) -> list[tuple[str, str, float]]:
    """``(field, value, watts)`` true of the asset at ``t_ms``."""
    heard = any(s.at(t_ms) is not None for s in series.values())
    out: list[tuple[str, str, float]] = [("reporting", "heard" if heard else "silent", 0.0)]
    for name in TEXT_FIELDS:
        if name in series:
            v = series[name].at(t_ms)
            # The column holds 32 characters; a device's free text must not block the hour.
            out.append((name, v[:VALUE_MAX] if isinstance(v, str) else "unknown", 0.0))
    if info.kind == "streetlight":
        state = series["powerState"].at(t_ms) if "powerState" in series else None
        kw = _num(series["activePower"].at(t_ms)) if "activePower" in series else None
        if not isinstance(state, str):
            lit = "unknown"
        elif state in ("on", "low") and (kw is None or kw * 1000.0 / MAINS_V >= info.min_current_a):
            lit = "lit"
        else:
            lit = "unlit"
        dark = "Dark" if is_dark(info.lat, info.lon, _utc(t_ms), info.dark_below_deg) else "Day"
        watts = (kw or 0.0) * 1000.0 if lit == "lit" else 0.0
        out.append(("lamp", lit + dark, watts))
    elif info.kind == "bin":
        level = _num(series["fillingLevel"].at(t_ms)) if "fillingLevel" in series else None
        value = (
            "unknown" if level is None else ("full" if level >= info.full_threshold else "notFull")
        )
        out.append(("bin", value, 0.0))
    elif info.kind == "camera":
        score = _num(series["healthScore"].at(t_ms)) if "healthScore" in series else None
        value = (
            "unknown"
            if score is None
            else ("healthy" if score >= info.healthy_score else "degraded")
        )
        out.append(("camera", value, 0.0))
    return out


def _utc(t_ms: int) -> datetime:
    return datetime.fromtimestamp(t_ms / 1000, tz=UTC)


def _events(info: AssetInfo, by_field: Mapping[str, Sequence[Obs]]) -> list[tuple[int, str]]:
    """``(t_ms, event)`` for bin collections and fires, each at the reading showing it."""
    out: list[tuple[int, str]] = []
    if info.kind != "bin":
        return out
    levels = [(o.t_ms, _num(o.v)) for o in by_field.get("fillingLevel", ())]
    for (_, a), (t, b) in itertools.pairwise(levels):
        if a is not None and b is not None and a - b >= info.collect_drop:
            out.append((t, "collection"))
    temps = [(o.t_ms, _num(o.v)) for o in by_field.get("temperature", ())]
    for (_, a), (t, b) in itertools.pairwise(temps):
        if a is not None and b is not None and a < info.fire_c <= b:
            out.append((t, "fire"))
    return out


def asset_hours(
    info: AssetInfo,
    obs: Iterable[Obs],
    *,
    start_ms: int,
    end_ms: int,
    hold_s: float = HOLD_S,
) -> list[HourRow]:
    """Rows for each whole UTC hour of ``[start_ms, end_ms)`` (both on hour boundaries).
    ``obs`` may start before ``start_ms`` (values held into it) and events are counted only
    for readings inside the range. ValueError if the bounds are not whole hours."""
    if start_ms % HOUR_MS or end_ms % HOUR_MS or end_ms < start_ms:
        raise ValueError("asset_hours takes whole UTC hours, start before end")
    hold_ms = int(hold_s * 1000)
    by_field: dict[str, list[Obs]] = {}
    for o in sorted(obs, key=lambda o: o.t_ms):
        by_field.setdefault(o.field, []).append(o)
    series = {name: _Series(seen, hold_ms) for name, seen in by_field.items()}
    cuts = set(range(start_ms, end_ms + 1, HOUR_MS))
    for one in series.values():
        cuts.update(t for t in (*one.t, *one.held_until()) if start_ms < t < end_ms)
    if info.kind == "streetlight":
        cuts.update(range(start_ms, end_ms, MINUTE_MS))
    acc: dict[tuple[int, str, str], list[float]] = {}
    for u, v in itertools.pairwise(sorted(cuts)):
        hour = u - u % HOUR_MS
        dt = (v - u) / 1000.0
        for name, value, watts in _classes(info, series, u):
            cell = acc.setdefault((hour, name, value), [0.0, 0.0])
            cell[0] += dt
            cell[1] += watts * dt / 3600.0
    counts: dict[tuple[int, str], int] = {}
    for t, event in _events(info, by_field):
        if start_ms <= t < end_ms:
            key = (t - t % HOUR_MS, event)
            counts[key] = counts.get(key, 0) + 1
    rows = [
        HourRow(info.asset, info.kind, info.site, h, f, val, round(s, 3), round(a, 3))
        for (h, f, val), (s, a) in acc.items()
    ]
    rows += [
        HourRow(info.asset, info.kind, info.site, h, "event", e, count=n)
        for (h, e), n in counts.items()
    ]
    return sorted(rows, key=lambda r: (r.hour_ms, r.field, r.value))
