"""Typed builders for the small subset of Grafana dashboard JSON Trygg uses. Pure.

Plain frozen dataclasses instead of grafana-foundation-sdk: the SDK has no InfluxDB query
builder and round-trips ``options: null`` badly (../shared/TOOLCHAIN.md), and the subset we
need (InfluxQL targets, a few panel types, query variables, InfluxQL annotations) is small.
The JSON follows Grafana 11's dashboard model (``schemaVersion`` 39).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from dashboards.schema import DATASOURCE_TYPE, DATASOURCE_UID

SCHEMA_VERSION: Final = 39
GRID_WIDTH: Final = 24
DATASOURCE: Final = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}

PanelType = Literal["timeseries", "stat", "table", "state-timeline", "geomap", "bargauge"]
Json = dict[str, Any]

_FROM = re.compile(r'FROM\s+(?:"[^"]+"\.)?"([^"]+)"|FROM\s+/\^\$(\w+)\$/')


@dataclass(frozen=True, slots=True)
class Query:
    """One InfluxQL target. ``alias`` uses Grafana's ``$tag_<name>`` patterns."""

    text: str
    alias: str = ""
    table: bool = False

    def measurements(self) -> tuple[str, ...]:
        """Measurements named in FROM clauses (``$kind`` for a measurement-regex variable)."""
        return tuple(m[0] or f"${m[1]}" for m in _FROM.findall(self.text))


@dataclass(frozen=True, slots=True)
class Step:
    value: float | None
    color: str


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    type: PanelType
    queries: tuple[Query, ...]
    unit: str = "none"
    width: int = 12
    height: int = 8
    description: str = ""
    steps: tuple[Step, ...] = ()
    mappings: tuple[tuple[str, str, str], ...] = ()  # (value, text, colour)
    decimals: int | None = None
    options: Json = field(default_factory=dict)
    minimum: float | None = None
    maximum: float | None = None

    def targets(self) -> list[Json]:
        return [
            {
                "refId": chr(ord("A") + i),
                "datasource": dict(DATASOURCE),
                "query": q.text,
                "rawQuery": True,
                "resultFormat": "table" if q.table else "time_series",
                **({"alias": q.alias} if q.alias else {}),
            }
            for i, q in enumerate(self.queries)
        ]

    def field_config(self) -> Json:
        defaults: Json = {"unit": self.unit}
        if self.steps:
            defaults["thresholds"] = {
                "mode": "absolute",
                "steps": [{"color": s.color, "value": s.value} for s in self.steps],
            }
            defaults["color"] = {"mode": "thresholds"}
        if self.mappings:
            defaults["mappings"] = [
                {
                    "type": "value",
                    "options": {
                        value: {"text": text, "color": colour, "index": i}
                        for i, (value, text, colour) in enumerate(self.mappings)
                    },
                }
            ]
        if self.decimals is not None:
            defaults["decimals"] = self.decimals
        if self.minimum is not None:
            defaults["min"] = self.minimum
        if self.maximum is not None:
            defaults["max"] = self.maximum
        return {"defaults": defaults, "overrides": []}


@dataclass(frozen=True, slots=True)
class Variable:
    """A query variable; multi-valued with an All option matching everything."""

    name: str
    label: str
    query: str

    def to_json(self) -> Json:
        return {
            "type": "query",
            "name": self.name,
            "label": self.label,
            "datasource": dict(DATASOURCE),
            "query": self.query,
            "definition": self.query,
            "refresh": 2,  # on time range change: new devices appear without a reload
            "multi": True,
            "includeAll": True,
            "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "sort": 1,
            "hide": 0,
        }


@dataclass(frozen=True, slots=True)
class Annotation:
    """InfluxQL annotation: rows of ``query`` become markers on every time-series panel."""

    name: str
    query: Query
    text_column: str
    tags_column: str
    color: str = "orange"

    def to_json(self) -> Json:
        return {
            "name": self.name,
            "datasource": dict(DATASOURCE),
            "enable": True,
            "hide": False,
            "iconColor": self.color,
            "query": self.query.text,
            "textColumn": self.text_column,
            "tagsColumn": self.tags_column,
        }


@dataclass(frozen=True, slots=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True, slots=True)
class Dashboard:
    uid: str
    title: str
    description: str
    variables: tuple[Variable, ...]
    rows: tuple[Row, ...]
    annotations: tuple[Annotation, ...] = ()
    time_from: str = "now-24h"
    time_to: str = "now"
    refresh: str = "1m"
    tags: tuple[str, ...] = ("trygg",)

    def panels(self) -> list[Panel]:
        return [p for row in self.rows for p in row.panels]

    def to_json(self) -> Json:
        """The dashboard JSON; panel ids and grid positions are assigned in order."""
        panels: list[Json] = []
        next_id, y = 1, 0
        for row in self.rows:
            panels.append(
                {
                    "id": next_id,
                    "type": "row",
                    "title": row.title,
                    "collapsed": False,
                    "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                    "panels": [],
                }
            )
            next_id, y, x, line_h = next_id + 1, y + 1, 0, 0
            for p in row.panels:
                if x + p.width > GRID_WIDTH:
                    x, y, line_h = 0, y + line_h, 0
                panels.append(
                    {
                        "id": next_id,
                        "type": p.type,
                        "title": p.title,
                        "description": p.description,
                        "datasource": dict(DATASOURCE),
                        "gridPos": {"h": p.height, "w": p.width, "x": x, "y": y},
                        "targets": p.targets(),
                        "fieldConfig": p.field_config(),
                        "options": p.options,
                    }
                )
                next_id, x, line_h = next_id + 1, x + p.width, max(line_h, p.height)
            y += line_h
        builtin: Json = {
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True,
            "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        }
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "timezone": "utc",
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "editable": False,
            "graphTooltip": 1,
            "time": {"from": self.time_from, "to": self.time_to},
            "refresh": self.refresh,
            "templating": {"list": [v.to_json() for v in self.variables]},
            "annotations": {"list": [builtin, *(a.to_json() for a in self.annotations)]},
            "panels": panels,
        }
