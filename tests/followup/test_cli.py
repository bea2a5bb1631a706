"""``trygg places`` and ``trygg report`` on a real SQLite database, through trygg's main."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from hub.db import Asset, open_database
from hub.devices import register
from hub.followup.hours import HOUR_MS, HourRow
from hub.followup.periods import parse_period
from hub.followup.store import replace_hours
from trygg.cli import main

FEATURES = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "Torget", "kind": "square"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [[18.0, 59.36], [18.01, 59.36], [18.01, 59.37], [18.0, 59.37], [18.0, 59.36]]
                ],
            },
        }
    ],
}


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/hub.sqlite"
    sessions = open_database(url)
    register(sessions, [("pole-1", "centrum")])
    h = parse_period("2026-03").start_ms
    with sessions.begin() as s:
        s.add(Asset(id="in", device_id="pole-1", kind="streetlight", lat=59.365, lon=18.005))
        rows = [HourRow("in", "streetlight", "centrum", h, "lamp", "litDark", seconds=3600.0)]
        replace_hours(s, start_ms=h, end_ms=h + HOUR_MS, rows=rows)
    sessions.kw["bind"].dispose()
    return url


def test_import_list_show_report_and_remove(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    geo = tmp_path / "places.geojson"
    geo.write_text(json.dumps(FEATURES))
    assert main(["places", "--database-url", db, "import", str(geo)]) == 0
    assert main(["places", "--database-url", db, "list"]) == 0
    assert "Torget\tsquare\t1 assets" in capsys.readouterr().out
    assert main(["places", "--database-url", db, "show", "Torget"]) == 0
    assert json.loads(capsys.readouterr().out)["assets"] == ["in"]
    out = tmp_path / "r.json"
    args = ["report", "--database-url", db, "--from", "2026-03-01", "--to", "2026-03-31"]
    assert main([*args, "--place", "Torget", "--format", "json", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["current"]["lighting"]["availability"] == 1.0
    pdf = tmp_path / "r.pdf"
    assert main([*args, "--format", "pdf", "-o", str(pdf)]) == 0
    assert pdf.read_bytes().startswith(b"%PDF-")
    xlsx = tmp_path / "r.xlsx"
    assert main([*args, "--format", "xlsx", "-o", str(xlsx)]) == 0
    assert load_workbook(xlsx).worksheets[0]["B3"].value == 1.0
    assert main([*args, "--format", "xlsx"]) == 2
    assert main(["places", "--database-url", db, "remove", "Torget"]) == 0
    assert main(["places", "--database-url", db, "remove", "Torget"]) == 2
    assert "no place" in capsys.readouterr().err


def test_bad_input_is_refused_and_changes_nothing(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = {"type": "FeatureCollection", "features": [*FEATURES["features"], {"type": "Feature"}]}
    geo = tmp_path / "bad.geojson"
    geo.write_text(json.dumps(bad))
    assert main(["places", "--database-url", db, "import", str(geo)]) == 2
    assert "feature 1" in capsys.readouterr().err
    assert main(["places", "--database-url", db, "list"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["report", "--database-url", db, "--period", "2026-13"]) == 2
    assert main(["report", "--database-url", db, "--period", "2026-03", "--place", "X"]) == 2
    assert main(["report", "--database-url", db, "--period", "2026-03", "--format", "pdf"]) == 2
