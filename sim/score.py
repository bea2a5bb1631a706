"""The demo's self-assessment: which injected faults became the right ticket, and how fast.

Pure. An injected fault is *detected* by the first ticket of its expected kind on its
target (the asset, its cabinet or its device) opened from just before the injection until
shortly after it was cleared; each ticket explains at most one fault. Every ticket that
explains no fault is a *false ticket*, counted against the row whose expected kind it has
(or the row ``other``); advisory kinds (forecasts) are reported apart. Infra faults
expect no ticket: they count as handled when the hub stores data again after the service
returns (``hub_recovered``; the delay is measured from the return), and every ticket they
provoke (an offline storm, say) is false. Delays are in simulated seconds.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sim.faults import ADVISORY_TICKETS, FAULT_KINDS
from sim.scenario import Injection

EARLY_SLACK: Final = timedelta(minutes=1)
LATE_GRACE: Final = timedelta(minutes=10)
RESOLVED_STATUSES: Final = frozenset({"resolved", "closed"})


@dataclass(frozen=True, slots=True)
class TicketView:
    id: int
    kind: str
    asset_id: str | None
    device_id: str | None
    status: str
    created_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class Outcome:
    injection: Injection
    ticket: int | None
    detected_at: datetime | None
    resolved: bool | None  # None: the fault was never cleared

    @property
    def delay_s(self) -> float | None:
        if self.detected_at is None:
            return None
        inj = self.injection
        since = inj.clear_at if inj.kind.ticket is None and inj.clear_at else inj.at
        return (self.detected_at - since).total_seconds()


@dataclass(frozen=True, slots=True)
class Row:
    fault: str
    expect: str
    injected: int
    detected: int
    missed: int
    false_tickets: int
    cleared: int
    resolved: int
    median_delay_s: float | None


def _ids(inj: Injection) -> set[str]:
    return {x for x in (inj.target, *inj.assets, *inj.devices) if x}


def match(
    injections: Sequence[Injection],
    tickets: Iterable[TicketView],
    *,
    hub_noticed: Mapping[int, datetime],
    end: datetime,
    hub_recovered: Mapping[int, datetime] | None = None,
) -> tuple[list[Outcome], list[TicketView]]:
    """Pair injections with the tickets (or hub signals) that detected them.

    Returns one outcome per injection, in scenario order, and the unexplained tickets.
    """
    pool = sorted(tickets, key=lambda t: (t.created_at, t.id))
    used: set[int] = set()
    outcomes = []
    for inj in sorted(injections, key=lambda i: (i.at, i.index)):
        kind = inj.kind
        if kind.alert is not None and kind.ticket is None:
            # scored against the hub's alerts (sim/crowd_score.py), not its tickets
            outcomes.append(Outcome(inj, None, None, None))
            continue
        if kind.ticket is None:
            back = (hub_recovered or {}).get(inj.index)
            outcomes.append(Outcome(inj, None, back, back is not None))
            continue
        ids = _ids(inj)
        by_device = set(inj.devices) if kind.target in ("device", "cabinet") else set()
        latest = (inj.clear_at or end) + LATE_GRACE
        found = next(
            (
                t
                for t in pool
                if t.id not in used
                and t.kind == kind.ticket
                and (t.asset_id in ids or t.device_id in by_device)
                and inj.at - EARLY_SLACK <= t.created_at <= latest
            ),
            None,
        )
        if found is None:
            outcomes.append(Outcome(inj, None, None, None if inj.clear_at is None else False))
            continue
        used.add(found.id)
        resolved = None
        if inj.clear_at is not None:
            resolved = found.status in RESOLVED_STATUSES or found.resolved_at is not None
        outcomes.append(Outcome(inj, found.id, found.created_at, resolved))
    outcomes.sort(key=lambda o: o.injection.index)
    false = [t for t in pool if t.id not in used and t.kind not in ADVISORY_TICKETS]
    return outcomes, false


def advisory(tickets: Iterable[TicketView]) -> dict[str, int]:
    """Planning tickets by kind (not scored as faults or as false)."""
    out: dict[str, int] = {}
    for t in tickets:
        if t.kind in ADVISORY_TICKETS:
            out[t.kind] = out.get(t.kind, 0) + 1
    return out


def table(outcomes: Sequence[Outcome], false: Sequence[TicketView]) -> list[Row]:
    """One row per fault kind in the table's order (kinds never injected are left out unless
    false tickets of their kind appeared), then ``other`` for unexpected ticket kinds."""
    by_ticket = {k.ticket: k.name for k in FAULT_KINDS.values() if k.ticket}
    false_by_row: dict[str, int] = {}
    for t in false:
        row = by_ticket.get(t.kind, "other")
        false_by_row[row] = false_by_row.get(row, 0) + 1
    rows = []
    for name, kind in FAULT_KINDS.items():
        if kind.alert is not None and kind.ticket is None:
            continue
        mine = [o for o in outcomes if o.injection.fault == name]
        if not mine and name not in false_by_row:
            continue
        delays = [d for o in mine if (d := o.delay_s) is not None]
        detected = sum(1 for o in mine if o.detected_at is not None)
        rows.append(
            Row(
                fault=name,
                expect=kind.ticket or "data flows again",
                injected=len(mine),
                detected=detected,
                missed=len(mine) - detected,
                false_tickets=false_by_row.get(name, 0),
                cleared=sum(1 for o in mine if o.injection.clear_at is not None),
                resolved=sum(1 for o in mine if o.resolved),
                median_delay_s=statistics.median(delays) if delays else None,
            )
        )
    if "other" in false_by_row:
        rows.append(Row("other", "-", 0, 0, 0, false_by_row["other"], 0, 0, None))
    return rows


def report(
    *,
    scenario: str,
    seed: int,
    speed: float,
    outcomes: Sequence[Outcome],
    false: Sequence[TicketView],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The score as a JSON-ready document (the demo writes it next to its state)."""
    rows = table(outcomes, false)
    return {
        "scenario": scenario,
        "seed": seed,
        "speed": speed,
        "rows": [asdict(r) for r in rows],
        "totals": {
            "injected": sum(r.injected for r in rows),
            "detected": sum(r.detected for r in rows),
            "missed": sum(r.missed for r in rows),
            "false_tickets": sum(r.false_tickets for r in rows),
            "cleared": sum(r.cleared for r in rows),
            "resolved": sum(r.resolved for r in rows),
        },
        "faults": [
            {
                "index": o.injection.index,
                "fault": o.injection.fault,
                "target": o.injection.target,
                "at": o.injection.at.isoformat(),
                "clear_at": o.injection.clear_at.isoformat() if o.injection.clear_at else None,
                "ticket": o.ticket,
                "detected_at": o.detected_at.isoformat() if o.detected_at else None,
                "delay_s": o.delay_s,
                "resolved": o.resolved,
            }
            for o in outcomes
        ],
        "false_tickets": [
            {
                "id": t.id,
                "kind": t.kind,
                "asset": t.asset_id,
                "device": t.device_id,
                "created_at": t.created_at.isoformat(),
            }
            for t in false
        ],
        **(dict(extra) if extra else {}),
    }
