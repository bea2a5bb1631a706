"""Day-burning per lamp into InfluxDB: seconds lit in daylight and the energy that wasted.

The ``dayBurning`` alarm (``hub/rules/lamp.py``) says *that* a lamp burns by day; operators
also want *how much*: hours and watt-hours per lamp. Once a minute (from the gauges loop)
the hub reads its own lamp readings back from InfluxDB for the interval since the last
write, and for each lamp adds up the time it was lit while the light at the pole was "day"
— the lamp rule's own judgement (:func:`hub.rules.lamp.light_at`: the lux sensor if recent,
else the sun above ``day_above_deg``, the lamp's per-asset thresholds) — and the energy its
power reading says it drew meanwhile.

Readings are sampled every minute or so, so the lamp's state between two readings is the
earlier one's (sample and hold), for at most ``hold_s`` (5 minutes): past that the lamp is
unknown and counted as not burning (a silent device is the offline rule's business). The
interval ends ``settle_s`` before now, so readings that are a little late have arrived;
readings later still (an outbox emptied after a long outage) do not change an interval
already written. Its start is kept in the ``counters`` table, so a restart neither skips
nor counts an interval twice, and a long outage is caught up for at most ``MAX_CATCH_UP_S``.

Points: measurement ``streetlight_dayburn``, tags ``asset`` and ``site`` (as the readings),
fields ``seconds`` (s) and ``energy_wh`` (Wh), at the interval's end; only lamps that burned
in the interval get a point, so a city of correct lamps writes nothing.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.db import Asset, Device
from hub.db import Counter as CounterRow
from hub.influx import Influx
from hub.lineproto import point
from hub.rules.lamp import MAINS_V, LampParams, LampState, light_at
from hub.rules.params import from_properties
from trygg.clock import from_ms
from trygg.contract import AssetKind

MEASUREMENT: Final = "streetlight_dayburn"
WATERMARK: Final = "gauges.dayburn_until"
MINUTE_MS: Final = 60_000
MAX_CATCH_UP_S: Final = 6 * 3600.0
FIRST_INTERVAL_S: Final = 300.0
# A lamp reports every minute or so; five minutes without a reading and its state is unknown.
HOLD_S: Final = 300.0


@dataclass(frozen=True, slots=True)
class Sample:
    """One lamp reading as stored in InfluxDB (any field may be missing)."""

    t_ms: int
    power_state: str | None = None
    power_kw: float | None = None
    lux: float | None = None


@dataclass(frozen=True, slots=True)
class Burn:
    seconds: float
    energy_wh: float


@dataclass(frozen=True, slots=True)
class Lamp:
    asset: str
    site: str
    lat: float
    lon: float
    params: LampParams


def _lit(s: Sample, p: LampParams) -> bool:
    """Lit as the lamp rule judges it: on (or dimmed) and drawing current, if it says."""
    if s.power_state not in ("on", "low"):
        return False
    return s.power_kw is None or s.power_kw * 1000.0 / MAINS_V >= p.min_current_a


def burn(
    samples: Iterable[Sample],
    *,
    start_ms: int,
    end_ms: int,
    lat: float,
    lon: float,
    p: LampParams,
    hold_s: float = HOLD_S,
) -> Burn:
    """Seconds of ``[start_ms, end_ms)`` the lamp was lit in daylight, and the Wh drawn
    then. ``samples`` may start before ``start_ms`` (the state held into the interval).
    Daylight is judged at the start of each piece, pieces being cut at every reading and
    every minute (the sun is cached per minute). Pure."""
    ordered = sorted(samples, key=lambda s: s.t_ms)
    lamp = [s for s in ordered if s.power_state is not None]
    lux = [s for s in ordered if s.lux is not None]
    lamp_t = [s.t_ms for s in lamp]
    lux_t = [s.t_ms for s in lux]
    hold_ms = int(hold_s * 1000)
    cuts = {start_ms, end_ms}
    cuts.update(t for t in lamp_t + lux_t if start_ms < t < end_ms)
    cuts.update(t + hold_ms for t in lamp_t if start_ms < t + hold_ms < end_ms)
    first_minute = (start_ms // MINUTE_MS + 1) * MINUTE_MS
    cuts.update(range(first_minute, end_ms, MINUTE_MS))
    edges = sorted(cuts)
    seconds = energy_wh = 0.0
    for u, v in itertools.pairwise(edges):
        i = bisect.bisect_right(lamp_t, u) - 1
        if i < 0 or u - lamp_t[i] >= hold_ms or not _lit(lamp[i], p):
            continue
        j = bisect.bisect_right(lux_t, u) - 1
        seen = LampState(lux=lux[j].lux, lux_ms=lux_t[j]) if j >= 0 else LampState()
        if light_at(seen, p, lat=lat, lon=lon, t_ms=u) != "day":
            continue
        dt = (v - u) / 1000.0
        seconds += dt
        energy_wh += (lamp[i].power_kw or 0.0) * 1000.0 * dt / 3600.0
    return Burn(seconds, energy_wh)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def samples_by_asset(results: Sequence[Mapping[str, Any]]) -> dict[str, list[Sample]]:
    """Samples per asset from an InfluxQL result (``GROUP BY "asset"``, epoch ms). Pure."""
    out: dict[str, list[Sample]] = {}
    for series in results[0].get("series", []) if results else []:
        asset = str(series.get("tags", {}).get("asset", ""))
        cols = {name: i for i, name in enumerate(series["columns"])}
        for row in series.get("values", []):
            state = row[cols["powerState"]] if "powerState" in cols else None
            out.setdefault(asset, []).append(
                Sample(
                    t_ms=int(row[cols["time"]]),
                    power_state=state if isinstance(state, str) else None,
                    power_kw=_number(row[cols["activePower"]]) if "activePower" in cols else None,
                    lux=_number(row[cols["illuminance"]]) if "illuminance" in cols else None,
                )
            )
    return out


def dayburn_lines(
    lamps: Iterable[Lamp],
    samples: Mapping[str, Sequence[Sample]],
    *,
    start_ms: int,
    end_ms: int,
    hold_s: float = HOLD_S,
) -> list[str]:
    """Line protocol (ms precision) for the lamps that burned in daylight. Pure."""
    lines: list[str] = []
    for lamp in sorted(lamps, key=lambda x: x.asset):
        b = burn(
            samples.get(lamp.asset, ()),
            start_ms=start_ms,
            end_ms=end_ms,
            lat=lamp.lat,
            lon=lamp.lon,
            p=lamp.params,
            hold_s=hold_s,
        )
        if b.seconds > 0:
            fields: dict[str, float | int | bool | str] = {
                "seconds": round(b.seconds, 3),
                "energy_wh": round(b.energy_wh, 3),
            }
            lines.append(
                point(MEASUREMENT, {"asset": lamp.asset, "site": lamp.site}, fields, end_ms)
            )
    return lines


def _rfc3339(t_ms: int) -> str:
    return from_ms(t_ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t_ms % 1000:03d}Z"


def readings_query(start_ms: int, end_ms: int) -> str:
    """The lamp readings from ``start_ms`` (inclusive) to ``end_ms`` (exclusive); only
    integers are formatted in, as RFC 3339 times."""
    return (
        'SELECT "powerState", "activePower", "illuminance" FROM "streetlight" '  # noqa: S608
        f"WHERE time >= '{_rfc3339(start_ms)}' AND time < '{_rfc3339(end_ms)}' "
        'GROUP BY "asset"'
    )


def load_lamps(s: Session) -> list[Lamp]:
    rows = s.execute(
        select(Asset.id, Device.site, Asset.lat, Asset.lon, Asset.properties)
        .join(Device, Device.id == Asset.device_id)
        .where(Asset.kind == AssetKind.STREETLIGHT.value)
    )
    return [
        Lamp(a, site or "none", float(lat), float(lon), from_properties(LampParams, props or {})[0])
        for a, site, lat, lon, props in rows
    ]


class DayBurnWriter:
    """Writes ``streetlight_dayburn`` for the interval since its last write."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        influx: Influx,
        settle_s: float = 60.0,
        hold_s: float = HOLD_S,
    ) -> None:
        self.sessions = sessions
        self.influx = influx
        self.settle_s = settle_s
        self.hold_s = hold_s
        self.points_written = 0

    def _start(self, end_ms: int) -> tuple[int | None, list[Lamp]]:
        with self.sessions() as s:
            row = s.get(CounterRow, WATERMARK)
            return (row.value if row else None), load_lamps(s)

    def _advance(self, end_ms: int) -> None:
        with self.sessions.begin() as s:
            s.merge(CounterRow(name=WATERMARK, value=end_ms))

    async def write(self, now_ms: int) -> int:
        """Write the interval ending ``settle_s`` before ``now_ms``; returns points written
        (InfluxError: the watermark stays, the next call covers the same interval)."""
        end_ms = now_ms - int(self.settle_s * 1000)
        mark, lamps = await asyncio.to_thread(self._start, end_ms)
        start_ms = end_ms - int(FIRST_INTERVAL_S * 1000) if mark is None else mark
        start_ms = max(start_ms, end_ms - int(MAX_CATCH_UP_S * 1000))
        if end_ms <= start_ms:
            return 0
        lines: list[str] = []
        if lamps:
            query = readings_query(start_ms - int(self.hold_s * 1000), end_ms)
            samples = samples_by_asset(await self.influx.query(query))
            lines = dayburn_lines(
                lamps, samples, start_ms=start_ms, end_ms=end_ms, hold_s=self.hold_s
            )
        if lines:
            await self.influx.write("\n".join(lines).encode(), precision="ms")
        await asyncio.to_thread(self._advance, end_ms)
        self.points_written += len(lines)
        return len(lines)
