"""Writes the ``asset_hours`` history from the hub's own readings in InfluxDB.

Called once a minute from the gauges loop. Each call stores at most one whole UTC hour:
the first not yet stored that ended ``settle_s`` ago (so late readings have arrived). The
hour's readings and the two hours before it (so values held into the hour are seen) are read
back per asset kind, turned into rows by :func:`hub.followup.hours.asset_hours` for every
known asset (a silent asset gets its silent hour), and stored replacing that hour; the
hour after it is remembered in ``counters``. A failure leaves the mark, so the next call
redoes the same hour with the same result; a restart after a long outage catches up at
most ``MAX_CATCH_UP_H`` hours, one per minute. Finished days and months are then summed
and old rows pruned (:mod:`hub.followup.rollup`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.db import Asset, Device
from hub.db import Counter as CounterRow
from hub.followup.hours import HOUR_MS, MAX_HOLD_MS, AssetInfo, HourRow, Obs, asset_hours
from hub.followup.rollup import HOURS_MARK, roll_up_due
from hub.followup.store import replace_hours
from hub.influx import Influx
from hub.rules.bin import BinParams
from hub.rules.lamp import LampParams
from hub.rules.params import from_properties
from trygg.clock import from_ms
from trygg.contract import FIELDS

log = logging.getLogger(__name__)

WATERMARK: Final = HOURS_MARK
MAX_CATCH_UP_H: Final = 72


def load_assets(s: Session) -> list[AssetInfo]:
    """Every asset with its site, place and the thresholds its own properties set."""
    rows = s.execute(
        select(Asset.id, Asset.kind, Device.site, Asset.lat, Asset.lon, Asset.properties).join(
            Device, Device.id == Asset.device_id
        )
    )
    out: list[AssetInfo] = []
    for asset, kind, site, lat, lon, props in rows:
        lamp = from_properties(LampParams, props or {})[0]
        bin_p = from_properties(BinParams, props or {})[0]
        out.append(
            AssetInfo(
                asset,
                kind,
                site or "none",
                float(lat),
                float(lon),
                full_threshold=bin_p.fullness_threshold,
                fire_c=bin_p.fire_c,
                min_current_a=lamp.min_current_a,
                dark_below_deg=lamp.dark_below_deg,
            )
        )
    return out


def readings_query(kind: str, start_ms: int, end_ms: int) -> str:
    """All readings of one kind's measurement in ``[start_ms, end_ms)``; the measurement is
    an ``AssetKind`` value and only integers are formatted in."""
    return (
        f'SELECT * FROM "{kind}" '  # noqa: S608
        f"WHERE time >= {start_ms}ms AND time < {end_ms}ms "
        'GROUP BY "asset"'
    )


def obs_by_asset(results: Sequence[Mapping[str, Any]]) -> dict[str, list[Obs]]:
    """Readings per asset from an InfluxQL result (``GROUP BY "asset"``, epoch ms); columns
    that are not contract fields (tags) are skipped. Pure."""
    out: dict[str, list[Obs]] = {}
    for series in results[0].get("series", []) if results else []:
        asset = str(series.get("tags", {}).get("asset", ""))
        cols = [(i, c) for i, c in enumerate(series["columns"]) if c in FIELDS]
        t_col = series["columns"].index("time")
        seen = out.setdefault(asset, [])
        for row in series.get("values", []):
            t = int(row[t_col])
            seen.extend(
                Obs(t, c, row[i]) for i, c in cols if isinstance(row[i], int | float | bool | str)
            )
    return out


class HistoryWriter:
    """Stores one finished hour of every asset's states per call."""

    def __init__(
        self, *, sessions: sessionmaker[Session], influx: Influx, settle_s: float = 300.0
    ) -> None:
        self.sessions = sessions
        self.influx = influx
        self.settle_s = settle_s
        self.hours_written = 0

    def _start(self) -> tuple[int | None, list[AssetInfo]]:
        with self.sessions() as s:
            row = s.get(CounterRow, WATERMARK)
            return (row.value if row else None), load_assets(s)

    def _store(self, start_ms: int, rows: list[HourRow], now_ms: int) -> None:
        with self.sessions.begin() as s:
            replace_hours(s, start_ms=start_ms, end_ms=start_ms + HOUR_MS, rows=rows)
            s.merge(CounterRow(name=WATERMARK, value=start_ms + HOUR_MS))
            roll_up_due(s, now_ms=now_ms)

    async def write(self, now_ms: int) -> int:
        """Store the next finished hour, if one is due; returns rows stored (InfluxError or
        a database error: the mark stays, the next call redoes the hour)."""
        ready = now_ms - int(self.settle_s * 1000)
        last_end = ready - ready % HOUR_MS
        mark, assets = await asyncio.to_thread(self._start)
        start = (
            last_end - HOUR_MS if mark is None else max(mark, last_end - MAX_CATCH_UP_H * HOUR_MS)
        )
        if start + HOUR_MS > last_end:
            return 0
        obs: dict[str, list[Obs]] = {}
        for kind in sorted({a.kind for a in assets}):
            # Two holds back: the first reading seen then has its own gap known too.
            q = readings_query(kind, start - 2 * MAX_HOLD_MS, start + HOUR_MS)
            obs.update(obs_by_asset(await self.influx.query(q)))
        rows = await asyncio.to_thread(_rows, assets, obs, start)
        await asyncio.to_thread(self._store, start, rows, now_ms)
        self.hours_written += 1
        log.info(
            "stored the asset history of the hour from %s (%d rows)", from_ms(start), len(rows)
        )
        return len(rows)


def _rows(assets: Sequence[AssetInfo], obs: Mapping[str, list[Obs]], start: int) -> list[HourRow]:
    out: list[HourRow] = []
    for a in assets:
        out += asset_hours(a, obs.get(a.asset, ()), start_ms=start, end_ms=start + HOUR_MS)
    return out
