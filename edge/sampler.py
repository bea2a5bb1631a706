"""Turns driver samples into contract readings. Pure: no I/O, ``now`` passed in.

Measurement times are kept strictly increasing per (asset, sensor, field): a reading whose
millisecond equals or precedes the previous one is moved 1 ms after it, so two readings can
never collapse into one InfluxDB point, and an unsynchronised clock stepping backwards can't
reorder them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, cast

from edge.drivers.base import Sample
from trygg.clock import to_ms
from trygg.contract import AssetKind, Reading


class Sampler:
    def __init__(self) -> None:
        self._last_ms: dict[tuple[str, str, str], int] = {}

    def readings(
        self,
        *,
        asset: str,
        kind: AssetKind,
        sensor: str,
        sample: Sample,
        now: datetime,
        clock_synced: bool = True,
    ) -> list[Reading]:
        t = to_ms(now)
        quality = cast(Literal["good", "uncertain", "bad"], sample.quality)
        out = []
        for name, value in sample.values.items():
            key = (asset, sensor, name)
            ms = max(t, self._last_ms.get(key, 0) + 1)
            self._last_ms[key] = ms
            out.append(
                Reading(
                    asset=asset,
                    kind=kind,
                    sensor=sensor,
                    field=name,
                    t=ms,
                    v=value,
                    q=quality,
                    unsynced=not clock_synced,
                )
            )
        return out
