"""Alert notices as the alerts API gives them, for the delivery tests."""

from __future__ import annotations

from typing import Any

from hub.alert_delivery.notice import AlertNotice

RAISED: dict[str, Any] = {
    "id": 7,
    "kind": "crowdLevel",
    "severity": "Extreme",
    "status": "raised",
    "zone": "arena-n-crowd0",
    "place": "Strawberry Arena",
    "event": "AIK–Hammarby",
    "figures": {"peopleDensity": 2.4, "peopleCount": 310, "occupancy": 1.12, "levelOfService": "F"},
    "raisedAt": "2026-12-05T18:00:00+00:00",
    "acknowledgedAt": None,
    "escalatedAt": None,
    "resolvedAt": None,
    "escalationLevel": 0,
}


def states() -> list[dict[str, Any]]:
    """One alert through its lifecycle, plus alerts of the other kinds."""
    escalated = {**RAISED, "status": "escalated", "escalatedAt": "2026-12-05T18:02:00+00:00"}
    escalated["escalationLevel"] = 1
    acked = {**escalated, "status": "acknowledged", "acknowledgedAt": "2026-12-05T18:03:10Z"}
    resolved = {**acked, "status": "resolved", "resolvedAt": "2026-12-05T18:20:00+01:00"}
    others = [
        {
            **RAISED,
            "id": 8,
            "kind": "crowdRising",
            "severity": "Moderate",
            "figures": {"peopleDensity": 1.1, "risePerMin": 0.4, "congested": True},
        },
        {
            **RAISED,
            "id": 9,
            "kind": "crowdOverCapacity",
            "severity": "Severe",
            "place": None,
            "figures": {"peopleCount": 1250, "capacity": 1000, "occupancy": 1.25},
        },
        {**RAISED, "id": 10, "kind": "zoneBlind", "severity": "Severe", "figures": {}},
        {
            **RAISED,
            "id": 11,
            "kind": "binFire",
            "severity": "Severe",
            "zone": "Råsunda torg bin 3",
            "place": "Råsunda torg",
            "event": 'Höstmarknad & "Solna dagen"',
            "figures": {"temperature": 71.5},
        },
    ]
    return [RAISED, escalated, acked, resolved, *others]


def notices() -> list[AlertNotice]:
    return [AlertNotice.from_json(s) for s in states()]
