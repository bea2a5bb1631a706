"""The demo's crowd-alert score: which injected surges raised an alert, and how fast. Pure.

A surge is *detected* by the first crowd alert (level of service, rising, over capacity)
on its zone raised from just before the injection until shortly after it was cleared;
each alert explains at most one surge. An alert that explains no surge is a true
*situation* when the simulator's own crowd (without the surge) was at Fruin E or F on the
zone's scale around that time (a real egress queue), or within two standard deviations of
the simulated count's own noise below E (where a pole's count legitimately crosses it), and
a *false alert* otherwise.
Delays are in simulated seconds, from the injection to the alert's ``raisedAt``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from edge.drivers.sim_model import stable_key
from sim.city import City
from sim.faults import ALERT_FAULTS
from sim.places import exit_by_slug
from sim.scenario import Injection
from sim.world import SQUARE_COUNT_NOISE, ZONE_COUNT_NOISE, World
from trygg.fruin import QUEUE_BOUNDS, WALKWAY_BOUNDS

CROWD_ALERTS: Final = frozenset({"crowdLevel", "crowdRising", "crowdOverCapacity"})
EARLY_SLACK: Final = timedelta(minutes=1)
LATE_GRACE: Final = timedelta(minutes=5)
TRUTH_LOOKBACK: Final = timedelta(minutes=10)

# zone asset id, instant -> whether the crowd there really was at E or F
Truth = Callable[[str, datetime], bool]


@dataclass(frozen=True, slots=True)
class AlertView:
    id: int
    kind: str
    zone: str
    severity: str
    raised_at: datetime


def alert_views(items: Iterable[Mapping[str, Any]]) -> list[AlertView]:
    """The hub's ``GET /api/v1/alerts`` objects as the score needs them.

    Raises ValueError for an object without the contract's id, kind, zone or raisedAt.
    """
    out = []
    for item in items:
        try:
            raised = datetime.fromisoformat(str(item["raisedAt"]).replace("Z", "+00:00"))
            out.append(
                AlertView(
                    id=int(item["id"]),
                    kind=str(item["kind"]),
                    zone=str(item["zone"]),
                    severity=str(item.get("severity", "")),
                    raised_at=raised,
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an alert object: {exc}") from exc
        if raised.tzinfo is None:
            raise ValueError(f"alert {item['id']}: raisedAt has no timezone")
    return out


def crowd_alerts(
    injections: Sequence[Injection],
    alerts: Iterable[AlertView] | None,
    *,
    truth: Truth,
) -> dict[str, Any]:
    """The score's crowd-alert section; ``alerts=None`` (the hub has no alerts API) says so."""
    surges = sorted(
        (i for i in injections if i.fault in ALERT_FAULTS), key=lambda i: (i.at, i.index)
    )
    if alerts is None:
        return {
            "available": False,
            "note": "the hub has no alerts API (GET /api/v1/alerts answered 404)",
            "injected": len(surges),
        }
    pool = sorted((a for a in alerts if a.kind in CROWD_ALERTS), key=lambda a: (a.raised_at, a.id))
    used: set[int] = set()
    found: list[dict[str, Any]] = []
    for inj in surges:
        latest = inj.clear_at + LATE_GRACE if inj.clear_at else None
        hit = next(
            (
                a
                for a in pool
                if a.id not in used
                and a.zone in inj.assets
                and inj.at - EARLY_SLACK <= a.raised_at
                and (latest is None or a.raised_at <= latest)
            ),
            None,
        )
        if hit is not None:
            used.add(hit.id)
        found.append(
            {
                "index": inj.index,
                "zone": inj.target,
                "at": inj.at.isoformat(),
                "alert": hit.id if hit else None,
                "kind": hit.kind if hit else None,
                "delay_s": (hit.raised_at - inj.at).total_seconds() if hit else None,
            }
        )

    def in_surge(a: AlertView) -> bool:
        # A surge past F also overfills its zone and rises fast: those alerts are its signs too.
        return any(
            a.zone in inj.assets
            and inj.at - EARLY_SLACK <= a.raised_at
            and (inj.clear_at is None or a.raised_at <= inj.clear_at + LATE_GRACE)
            for inj in surges
        )

    rest = [a for a in pool if a.id not in used]
    situations = [a for a in rest if in_surge(a) or truth(a.zone, a.raised_at)]
    false = [a for a in rest if not (in_surge(a) or truth(a.zone, a.raised_at))]
    delays = [d for f in found if (d := f["delay_s"]) is not None]
    detected = sum(1 for f in found if f["alert"] is not None)
    return {
        "available": True,
        "injected": len(surges),
        "raised": len(pool),
        "detected": detected,
        "missed": len(surges) - detected,
        "situations": len(situations),
        "false_alerts": len(false),
        "median_delay_s": statistics.median(delays) if delays else None,
        "max_delay_s": max(delays) if delays else None,
        "surges": found,
        "false": [{"id": a.id, "kind": a.kind, "zone": a.zone} for a in false],
    }


def zone_truth(city: City, world: World) -> Truth:
    """Whether the world's own crowd in a zone (no injected surge) reached Fruin E on the
    zone's scale at any minute of the ten before an instant; unknown zones never did."""
    zones = {a.id: a for _d, a in city.assets() if a.kind.value == "crowd"}

    def truth(zone: str, when: datetime) -> bool:
        asset = zones.get(zone)
        if asset is None:
            return False
        area = float(asset.properties["zoneArea"])
        bounds = QUEUE_BOUNDS if asset.properties.get("scale") == "queue" else WALKWAY_BOUNDS
        exit_slug = asset.properties.get("exitZone")
        key = stable_key(world.seed, zone)
        t = when - TRUTH_LOOKBACK
        while t <= when:
            if isinstance(exit_slug, str):
                people = world.zone_people(exit_by_slug(exit_slug), t, key)
                noise = ZONE_COUNT_NOISE
            else:
                people = world.people(asset.place, area, t, key)
                noise = SQUARE_COUNT_NOISE
            if people / area >= bounds[3] * (1.0 - 2.0 * noise):
                return True
            t += timedelta(minutes=1)
        return False

    return truth
