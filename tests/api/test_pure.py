"""Table tests of the pure parts (positions, Open311 formatting) and a purity check."""

from __future__ import annotations

import ast
import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.api.geo import BBox, Point, distance_m
from hub.open311 import format as fmt


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("18,59,18.1,59.1", None),
        ("18,59,18.1", "four numbers"),
        ("18,59,x,59.1", "must be numbers"),
        ("18,59,inf,59.1", "finite"),
        ("18.1,59,18,59.1", "must satisfy"),
        ("18,95,18.1,96", "must satisfy"),
    ],
)
def test_bbox_parse(text: str, error: str | None) -> None:
    if error is None:
        assert BBox.parse(text) == BBox(18, 59, 18.1, 59.1)
    else:
        with pytest.raises(ValueError, match=error):
            BBox.parse(text)


@pytest.mark.parametrize(
    ("a", "b", "metres"),
    [
        ((59.36, 18.0), (59.36, 18.0), 0.0),
        ((59.36, 18.0), (59.37, 18.0), 1111.95),  # 0.01 deg of latitude
        ((59.36, 18.0), (59.36, 18.01), 566.7),  # shrinks with cos(latitude)
        ((0.0, 0.0), (0.0, 180.0), 20015114.4),  # half the equator
    ],
)
def test_distance(a: tuple[float, float], b: tuple[float, float], metres: float) -> None:
    got = distance_m(Point(*a), *b)
    assert got == pytest.approx(metres, rel=1e-3, abs=0.01)
    assert distance_m(Point(*a), None, 18.0) is None


@pytest.mark.parametrize(
    ("status", "basic", "extended"),
    [
        ("new", "open", "open"),
        ("reopened", "open", "open"),
        ("acknowledged", "open", "action_scheduled"),
        ("in_progress", "open", "in_progress"),
        ("resolved", "closed", "fixed"),
        ("closed", "closed", "closed"),
        ("duplicate", "closed", "duplicate"),
    ],
)
def test_status_mapping(status: str, basic: str, extended: str) -> None:
    assert fmt.basic_status(status) == basic
    assert fmt.extended_status(status) == extended


@pytest.mark.parametrize(
    ("utc", "local"),
    [
        (datetime(2026, 12, 15, 21, 0, tzinfo=UTC), "2026-12-15T22:00:00+01:00"),
        (datetime(2026, 6, 21, 21, 0, tzinfo=UTC), "2026-06-21T23:00:00+02:00"),
        (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), "2026-03-29T01:59:00+01:00"),  # before DST
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "2026-03-29T03:00:00+02:00"),  # after
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "2026-10-25T02:30:00+02:00"),  # first 02:30
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "2026-10-25T02:30:00+01:00"),  # second
    ],
)
def test_datetimes_carry_the_stockholm_offset(utc: datetime, local: str) -> None:
    assert fmt.when(utc) == local
    assert datetime.fromisoformat(local) == utc


def test_xml_escapes_and_keeps_every_field() -> None:
    body = fmt.to_xml("service_requests", "request", [{"description": '<a> & "b"', "lat": None}])
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<service_requests>')
    assert b'<description>&lt;a&gt; &amp; "b"</description>' in body
    assert b"<lat />" in body
    with pytest.raises(ValueError, match="naive"):
        fmt.when(datetime(2026, 1, 1))  # noqa: DTZ001


@pytest.mark.parametrize(
    "module",
    [
        "hub.api.geo",
        "hub.api.client_ip",
        "hub.open311.audience",
        "hub.open311.format",
        "hub.open311.services",
    ],
)
def test_pure_modules_import_no_io(module: str) -> None:
    """Read each module's own imports (its package may import FastAPI; the module must not)."""
    spec = importlib.util.find_spec(module)
    assert spec is not None
    assert spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(
                node.module if node.module.startswith("hub.") else node.module.split(".")[0]
            )
    allowed = {
        "__future__",
        "math",
        "dataclasses",
        "typing",
        "collections",
        "datetime",
        "zoneinfo",
        "xml",
        "re",
        "ipaddress",
    }
    # trygg's core is pure (its own test checks that); trygg.text is the shared text rule.
    assert imported - allowed <= {"hub.open311.services", "trygg"}, imported
