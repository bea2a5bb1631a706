"""Shared pieces of every Trygg dashboard: template variables, filters, ticket annotations.

Pure. Variables are multi-valued with ``All`` = ``.*``, and every filter uses Grafana's
regex form ``"tag" =~ /^$var$/``, which Grafana expands to ``(a|b)`` for several values.
"""

from __future__ import annotations

from typing import Final

from dashboards import schema as s
from dashboards.model import Annotation, Query, Step, Variable
from trygg.fruin import WALKWAY_BOUNDS

SITE_FILTER: Final = f'"{s.TAG_SITE}" =~ /^$site$/'
DEVICE_FILTER: Final = f'"{s.TAG_DEVICE}" =~ /^$device$/'
KIND_REGEX: Final = "/^$kind$/"

SITE: Final = Variable("site", "Site", f'SHOW TAG VALUES WITH KEY = "{s.TAG_SITE}"')
KIND: Final = Variable(
    "kind",
    "Asset kind",
    "SHOW MEASUREMENTS WITH MEASUREMENT =~ /^(" + "|".join(s.READING_KINDS) + ")$/",
)


def device_variable(measurement: s.Measurement | None = None) -> Variable:
    """Devices reporting ``measurement`` (or any asset kind in ``$kind``) at ``$site``."""
    source = f'"{measurement.name}"' if measurement else KIND_REGEX
    return Variable(
        "device",
        "Device",
        f'SHOW TAG VALUES FROM {source} WITH KEY = "{s.TAG_DEVICE}" WHERE {SITE_FILTER}',
    )


def where(*conditions: str) -> str:
    """``WHERE $timeFilter AND <site> AND <device> AND ...`` for a readings query."""
    return " AND ".join(("WHERE $timeFilter", SITE_FILTER, DEVICE_FILTER, *conditions))


def where_site(*conditions: str) -> str:
    """For hub-written measurements that carry a site tag but no device."""
    return " AND ".join(("WHERE $timeFilter", SITE_FILTER, *conditions))


def tickets(kinds: str | None = None) -> Annotation:
    """Ticket changes (opened, acknowledged, resolved, ...), of ticket kinds matching the
    ``kinds`` regex or all. City-wide: tickets carry a crew area, not a site."""
    m = s.TICKET_EVENT
    kind_filter = f' AND "{m.tag("kind")}" =~ {kinds}' if kinds else ""
    return Annotation(
        "Ticket changes",
        Query(
            f'SELECT "{m.field("title")}", "{m.tag("kind")}", "{m.tag("action")}", '
            f'"{m.tag("priority")}" FROM "{m.name}" WHERE $timeFilter{kind_filter}'
        ),
        text_column="title",
        tags_column="kind,action,priority",
    )


def edge_events(kind: str | None = None) -> Annotation:
    """Edge events (tilt, camera covered, ...) of one asset kind, or of ``$kind``."""
    kind_filter = f"\"kind\" = '{kind}'" if kind else '"kind" =~ /^$kind$/'
    return Annotation(
        "Edge events",
        Query(
            f'SELECT "{s.EVENT.field("severity")}", "type", "asset" FROM "{s.EVENT.name}" '
            f"{where(kind_filter)}"
        ),
        text_column="type",
        tags_column="severity,asset",
        color="purple",
    )


GOOD_BAD: Final = (Step(None, "green"), Step(1, "red"))
FRUIN_COLOURS: Final = ("green", "#73BF69", "yellow", "orange", "red", "dark-red")
FRUIN_STEPS: Final = (
    Step(None, FRUIN_COLOURS[0]),
    *(Step(b, c) for b, c in zip(WALKWAY_BOUNDS, FRUIN_COLOURS[1:], strict=True)),
)
FRUIN_MAPPINGS: Final = tuple(
    (los, f"LOS {los}", colour) for los, colour in zip("ABCDEF", FRUIN_COLOURS, strict=True)
)
