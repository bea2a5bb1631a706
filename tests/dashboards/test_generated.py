"""The committed dashboard JSON: up to date with the code, and valid Grafana dashboard JSON."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from itertools import combinations
from typing import Any

import pytest

from dashboards.catalogue import dashboards
from dashboards.generate import GENERATED, ROOT, outputs, stale, write
from dashboards.model import SCHEMA_VERSION
from dashboards.schema import DATASOURCE_UID, READING_KINDS

FILES = sorted((ROOT / GENERATED).glob("*.json"))


def test_committed_files_are_up_to_date() -> None:
    problems = stale()
    assert not problems, "run `trygg dashboards generate` and commit:\n" + "\n".join(problems)


def test_staleness_is_detected(tmp_path: Any) -> None:
    write(tmp_path)
    assert stale(tmp_path) == []
    victim = tmp_path / GENERATED / "trygg-city.json"
    victim.write_text(victim.read_text().replace("Open tickets", "Open tikets"))
    (tmp_path / GENERATED / "old-board.json").write_text("{}")
    (tmp_path / "provisioning/dashboards/trygg.yaml").unlink()
    assert stale(tmp_path) == [
        f"{GENERATED}/old-board.json is left over",
        f"{GENERATED}/trygg-city.json is out of date",
        "provisioning/dashboards/trygg.yaml is missing",
    ]
    write(tmp_path)
    assert stale(tmp_path) == []
    assert not (tmp_path / GENERATED / "old-board.json").exists()


def test_one_file_per_dashboard() -> None:
    assert [p.name for p in FILES] == sorted(f"{d.uid}.json" for d in dashboards())
    assert len(outputs()) == len(FILES) + 3  # data source, dashboard provider, alert rules


def _overlap(a: dict[str, int], b: dict[str, int]) -> bool:
    return not (
        a["x"] + a["w"] <= b["x"]
        or b["x"] + b["w"] <= a["x"]
        or a["y"] + a["h"] <= b["y"]
        or b["y"] + b["h"] <= a["y"]
    )


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_file_is_grafana_dashboard_json(path: Any) -> None:
    board = json.loads(path.read_text())
    assert board["schemaVersion"] == SCHEMA_VERSION
    assert board["uid"] == path.stem
    assert len(board["uid"]) <= 40  # Grafana's uid limit
    assert board["title"]
    assert board["timezone"] == "utc"
    names = [v["name"] for v in board["templating"]["list"]]
    assert "site" in names
    # A board on readings filters by device too; one on the hub's aggregates has no devices.
    reads_readings = any(
        re.search(rf'FROM "({"|".join(READING_KINDS)})"|FROM /\^\$kind', t["query"])
        for p in board["panels"]
        for t in p.get("targets", [])
    )
    assert "device" in names or not reads_readings
    for var in board["templating"]["list"]:
        assert var["type"] == "query"
        assert var["datasource"]["uid"] == DATASOURCE_UID
        assert var["query"].startswith("SHOW ")
        assert var["multi"]
        assert var["includeAll"]
    annotations = board["annotations"]["list"]
    assert annotations[0]["builtIn"] == 1
    assert any(a["name"] == "Ticket changes" for a in annotations)
    for a in annotations[1:]:
        assert a["datasource"]["uid"] == DATASOURCE_UID
        assert a["query"].startswith("SELECT ")
    panels = board["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for p in panels:
        pos = p["gridPos"]
        assert set(pos) == {"h", "w", "x", "y"}
        assert pos["x"] >= 0
        assert pos["x"] + pos["w"] <= 24
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "influxdb", "uid": DATASOURCE_UID}
        assert p["targets"], p["title"]
        assert p["options"] is not None
        for t in p["targets"]:
            assert t["refId"]
            assert t["rawQuery"] is True
            assert t["datasource"]["uid"] == DATASOURCE_UID
            assert t["query"].startswith("SELECT "), "InfluxQL only"
            assert "$timeFilter" in t["query"], f"{p['title']}: no time filter"
    for a, b in combinations(panels, 2):
        assert not _overlap(a["gridPos"], b["gridPos"]), (a["title"], b["title"])


def test_dashboard_building_is_pure() -> None:
    code = (
        "import sys, dashboards.catalogue, dashboards.render, dashboards.provisioning;"
        "bad = {'httpx', 'asyncio', 'paho', 'sqlalchemy', 'uvicorn', 'fastapi', 'numpy'};"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT.parent
    )
    assert out.stdout.strip() == "[]"
