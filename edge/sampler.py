"""Turns driver samples into contract readings. Pure: no I/O, ``now`` passed in.

Per sensor a :class:`Policy` says how many raw reads make one value (``window``), how they
combine (median resists the odd ultrasonic echo off a bag; mean smooths current), and when
a value is worth sending: every time (``deadband=None``), or only when it moved by the
deadband, with an unchanged value re-sent at least every ``max_silence_s`` so the hub can
tell "steady" from "silent".

Measurement times are kept strictly increasing per (asset, sensor, field): a reading whose
millisecond equals or precedes the previous one is moved 1 ms after it, so two readings can
never collapse into one InfluxDB point, and a clock stepping backwards (a Pi without a
real-time clock, before NTP) can't reorder them. Readings taken before the clock was
synchronised carry ``unsynced=True``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, cast

from edge.drivers.base import Sample
from trygg.clock import to_ms
from trygg.contract import AssetKind, Reading, Value

MIN_EPOCH_MS = 946_684_800_000  # the contract's floor (2000-01-01); an unset Pi says 1970
_QUALITY_RANK = {"good": 0, "uncertain": 1, "bad": 2}
Quality = Literal["good", "uncertain", "bad"]


@dataclass(frozen=True, slots=True)
class Policy:
    window: int = 1
    aggregate: Literal["median", "mean", "last"] = "median"
    deadband: float | None = None
    max_silence_s: float = 900.0


@dataclass
class _Stream:
    values: list[dict[str, Value]] = field(default_factory=list)
    worst: str = "good"
    sent: dict[str, tuple[Value, int, str]] = field(default_factory=dict)  # value, ms, quality


def combine(values: list[Value], how: str) -> Value:
    """Aggregate one field's window; booleans and text take the latest value."""
    last = values[-1]
    if how == "last" or isinstance(last, bool | str):
        return last
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not numbers:
        return last
    result = statistics.median(numbers) if how == "median" else statistics.fmean(numbers)
    return round(result) if isinstance(last, int) else round(result, 6)


def _changed(old: Value, new: Value, deadband: float) -> bool:
    if isinstance(old, bool | str) or isinstance(new, bool | str):
        return old != new
    return abs(float(new) - float(old)) >= deadband if deadband > 0 else new != old


class Sampler:
    def __init__(self, policies: dict[tuple[str, str], Policy] | None = None) -> None:
        self._last_ms: dict[tuple[str, str, str], int] = {}
        self._policies = dict(policies or {})
        self._streams: dict[tuple[str, str], _Stream] = {}

    def set_policy(self, asset: str, sensor: str, policy: Policy) -> None:
        self._policies[(asset, sensor)] = policy
        self._streams.pop((asset, sensor), None)

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
        """The readings this sample completes (none while a window fills or nothing moved)."""
        policy = self._policies.get((asset, sensor), Policy())
        stream = self._streams.setdefault((asset, sensor), _Stream())
        stream.values.append(sample.values)
        if _QUALITY_RANK.get(sample.quality, 2) > _QUALITY_RANK[stream.worst]:
            stream.worst = sample.quality if sample.quality in _QUALITY_RANK else "bad"
        if len(stream.values) < policy.window:
            return []
        window, quality = stream.values, cast(Quality, stream.worst)
        stream.values, stream.worst = [], "good"
        names = dict.fromkeys(name for values in window for name in values)
        t = max(to_ms(now), MIN_EPOCH_MS)
        out = []
        for name in names:
            value = combine([v[name] for v in window if name in v], policy.aggregate)
            previous = stream.sent.get(name)
            if (
                policy.deadband is not None
                and previous is not None
                and previous[2] == quality
                and t - previous[1] < policy.max_silence_s * 1000
                and not _changed(previous[0], value, policy.deadband)
            ):
                continue
            key = (asset, sensor, name)
            ms = max(t, self._last_ms.get(key, 0) + 1)
            self._last_ms[key] = ms
            stream.sent[name] = (value, ms, quality)
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
