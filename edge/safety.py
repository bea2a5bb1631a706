"""Safety conditions that become events at once, without waiting for a batch. Pure.

Fed with every raw sample (not the windowed value), so a fire or a dropped bin is reported
on the read that saw it. Each condition is latched: one event when it starts
(``active=True``) and one when it ends, never one per read.

- ``fire``: temperature at or above ``fire_c`` (critical);
- ``temperatureJump``: a rise of ``jump_c`` or more within ``jump_window_s`` (critical);
- ``tilt``: the bin's tilt switch closed (major);
- ``sensorFault``: reads failing or bad (minor), cleared by the next good read.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from edge.drivers.base import Sample
from trygg.clock import to_ms
from trygg.contract import AssetKind, EventItem

Severity = Literal["critical", "major", "minor", "warning", "indeterminate"]


@dataclass(frozen=True, slots=True)
class FireLimits:
    fire_c: float = 70.0
    jump_c: float = 10.0
    jump_window_s: float = 120.0


@dataclass
class _State:
    active: set[str] = field(default_factory=set)
    temps: deque[tuple[int, float]] = field(default_factory=deque)


class SafetyWatch:
    def __init__(self, limits: dict[tuple[str, str], FireLimits] | None = None) -> None:
        self._limits = dict(limits or {})
        self._state: dict[tuple[str, str], _State] = {}

    def set_limits(self, asset: str, sensor: str, limits: FireLimits) -> None:
        self._limits[(asset, sensor)] = limits

    def _edge(
        self,
        state: _State,
        *,
        asset: str,
        kind: AssetKind,
        what: str,
        on: bool,
        t: int,
        severity: Severity,
        values: dict[str, float],
        unsynced: bool,
    ) -> list[EventItem]:
        if on == (what in state.active):
            return []
        (state.active.add if on else state.active.discard)(what)
        return [
            EventItem(
                asset=asset,
                kind=kind,
                type=what,
                t=t,
                active=on,
                severity=severity,
                values=values,
                unsynced=unsynced,
            )
        ]

    def sample(
        self,
        *,
        asset: str,
        kind: AssetKind,
        sensor: str,
        sample: Sample,
        now: datetime,
        clock_synced: bool = True,
    ) -> list[EventItem]:
        """Events this good or flagged sample starts or ends."""
        state = self._state.setdefault((asset, sensor), _State())
        t = max(to_ms(now), 946_684_800_000)

        def edge(what: str, on: bool, severity: Severity, **values: float) -> list[EventItem]:
            return self._edge(
                state,
                asset=asset,
                kind=kind,
                what=what,
                on=on,
                t=t,
                severity=severity,
                values=values,
                unsynced=not clock_synced,
            )

        events = edge("sensorFault", sample.quality == "bad", "minor")
        if sample.quality == "bad":
            return events
        temp = sample.values.get("temperature")
        if isinstance(temp, int | float) and not isinstance(temp, bool):
            limits = self._limits.get((asset, sensor), FireLimits())
            state.temps.append((t, float(temp)))
            while state.temps and state.temps[0][0] < t - int(limits.jump_window_s * 1000):
                state.temps.popleft()
            rise = float(temp) - min(v for _, v in state.temps)
            events += edge("fire", temp >= limits.fire_c, "critical", temperature=float(temp))
            events += edge(
                "temperatureJump",
                rise >= limits.jump_c,
                "critical",
                temperature=float(temp),
                rise=rise,
            )
        tilted = sample.values.get("tilted")
        if isinstance(tilted, bool):
            events += edge("tilt", tilted, "major")
        return events

    def failed(
        self, *, asset: str, kind: AssetKind, sensor: str, now: datetime, clock_synced: bool = True
    ) -> list[EventItem]:
        """A read raised DriverError: a ``sensorFault`` event if not already active."""
        state = self._state.setdefault((asset, sensor), _State())
        return self._edge(
            state,
            asset=asset,
            kind=kind,
            what="sensorFault",
            on=True,
            t=max(to_ms(now), 946_684_800_000),
            severity="minor",
            values={},
            unsynced=not clock_synced,
        )
