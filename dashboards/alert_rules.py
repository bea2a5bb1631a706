"""Grafana alert rules for crowds, provisioned beside the dashboards. Pure.

For operators who live in Grafana: one rule group evaluated every 10 s over the crowd
readings the hub writes, one alert instance per zone (the query groups by asset). The
thresholds are Fruin's walkway bounds from :mod:`trygg.fruin` (the one table in the code
base); zones judged on the queuing scale, and alerts with a lifecycle, escalation and
delivery, are the hub's (its alerts API); these rules are the Grafana-side view of the
same readings. Labels carry the hub's alert kinds and CAP severities, so one routing
policy can treat both alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import yaml

from dashboards import schema as s
from dashboards.schema import DATASOURCE_UID
from trygg.fruin import WALKWAY_BOUNDS

GROUP: Final = "trygg-crowds"
FOLDER: Final = "Trygg"
INTERVAL: Final = "10s"
EXPRESSIONS_UID: Final = "__expr__"  # Grafana's server-side expressions
RISING_WINDOW_S: Final = 300
RISING_BY: Final = 0.5  # persons/m² within the window


@dataclass(frozen=True, slots=True)
class CrowdRule:
    uid: str
    title: str
    kind: str  # the hub's alert kind of the same situation
    severity: str  # CAP 1.2
    threshold: float
    for_: str
    summary: str
    rising: bool = False


def density_query(window_s: int) -> str:
    """Each zone's densest reading per 10 s over the last ``window_s`` seconds (InfluxQL)."""
    m = s.CROWD
    return (
        f'SELECT max("{m.field("peopleDensity")}") FROM "{m.name}" '
        f'WHERE time > now() - {window_s}s GROUP BY time(10s), "{m.tag(s.TAG_ASSET)}" fill(none)'
    )


RULES: Final[tuple[CrowdRule, ...]] = (
    CrowdRule(
        "trygg-crowd-los-f",
        "Crowd at level of service F",
        "crowdLevel",
        "Extreme",
        WALKWAY_BOUNDS[4],
        "30s",
        "Zone {{ $labels.asset }} at Fruin F: {{ $values.B }} persons/m²",
    ),
    CrowdRule(
        "trygg-crowd-los-e",
        "Crowd at level of service E",
        "crowdLevel",
        "Severe",
        WALKWAY_BOUNDS[3],
        "1m",
        "Zone {{ $labels.asset }} at Fruin E or worse: {{ $values.B }} persons/m²",
    ),
    CrowdRule(
        "trygg-crowd-rising",
        "Crowd density rising",
        "crowdRising",
        "Moderate",
        RISING_BY,
        "0s",
        "Zone {{ $labels.asset }}: density up {{ $values.D }} persons/m² in 5 minutes",
        rising=True,
    ),
)


def _query(ref: str, window_s: int) -> dict[str, Any]:
    return {
        "refId": ref,
        "relativeTimeRange": {"from": window_s, "to": 0},
        "datasourceUid": DATASOURCE_UID,
        "model": {
            "refId": ref,
            "query": density_query(window_s),
            "rawQuery": True,
            "resultFormat": "time_series",
        },
    }


def _expr(ref: str, **model: Any) -> dict[str, Any]:
    return {
        "refId": ref,
        "relativeTimeRange": {"from": 0, "to": 0},
        "datasourceUid": EXPRESSIONS_UID,
        "model": {"refId": ref, **model},
    }


def _threshold(ref: str, of: str, value: float) -> dict[str, Any]:
    return _expr(
        ref,
        type="threshold",
        expression=of,
        conditions=[{"evaluator": {"type": "gt", "params": [value]}}],
    )


def rule(r: CrowdRule) -> dict[str, Any]:
    """One rule as Grafana's alerting provisioning file describes it."""
    if r.rising:
        data = [
            _query("A", RISING_WINDOW_S),
            _expr("B", type="reduce", expression="A", reducer="last"),
            _expr("C", type="reduce", expression="A", reducer="min"),
            _expr("D", type="math", expression="$B - $C"),
            _threshold("E", "D", r.threshold),
        ]
        condition = "E"
    else:
        data = [
            _query("A", 120),
            _expr("B", type="reduce", expression="A", reducer="last"),
            _threshold("C", "B", r.threshold),
        ]
        condition = "C"
    return {
        "uid": r.uid,
        "title": r.title,
        "condition": condition,
        "data": data,
        "for": r.for_,
        "noDataState": "OK",
        "execErrState": "Error",
        "annotations": {"summary": r.summary},
        "labels": {"kind": r.kind, "severity": r.severity, "source": "trygg"},
        "isPaused": False,
    }


def alerting_yaml() -> str:
    doc = {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": GROUP,
                "folder": FOLDER,
                "interval": INTERVAL,
                "rules": [rule(r) for r in RULES],
            }
        ],
    }
    return yaml.safe_dump(doc, sort_keys=True, allow_unicode=True)
