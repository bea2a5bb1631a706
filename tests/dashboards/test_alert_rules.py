"""Grafana's crowd alert rules: well-formed provisioning, Fruin's thresholds, a query that
real InfluxDB answers with one series per zone."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from dashboards import alert_rules
from dashboards.alert_rules import RULES, density_query
from dashboards.provisioning import datasource_yaml
from trygg.fruin import WALKWAY_BOUNDS
from trygg.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]
PROVISIONED = ROOT / "dashboards" / "provisioning" / "alerting" / "trygg-crowds.yaml"
CAP_SEVERITIES = {"Extreme", "Severe", "Moderate", "Minor"}
HUB_KINDS = {"crowdLevel", "crowdRising", "crowdOverCapacity"}


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(PROVISIONED.read_text())
    assert doc["apiVersion"] == 1
    (group,) = doc["groups"]
    assert group["interval"] == "10s"
    assert group["folder"] == "Trygg"
    rules: list[dict[str, Any]] = group["rules"]
    return rules


def test_each_rule_is_a_complete_chain_of_queries_and_expressions() -> None:
    uid = yaml.safe_load(datasource_yaml())["datasources"][0]["uid"]
    rules = _rules()
    assert len({r["uid"] for r in rules}) == len(rules) == len(RULES)
    for r in rules:
        refs = [d["refId"] for d in r["data"]]
        assert r["condition"] in refs
        assert len(set(refs)) == len(refs)
        for d in r["data"]:
            assert d["model"]["refId"] == d["refId"]
            if d["datasourceUid"] == alert_rules.EXPRESSIONS_UID:
                used = d["model"]["expression"].replace("$", "").replace(" ", "")
                assert set(used.split("-")) <= set(refs[: refs.index(d["refId"])]), r["uid"]
            else:
                assert d["datasourceUid"] == uid
                assert d["model"]["rawQuery"] is True
        assert r["labels"]["severity"] in CAP_SEVERITIES
        assert r["labels"]["kind"] in HUB_KINDS


def test_thresholds_are_fruins_walkway_bounds() -> None:
    by_uid = {r["uid"]: r for r in _rules()}

    def threshold(uid: str) -> float:
        rule = by_uid[uid]
        (cond,) = [d for d in rule["data"] if d["refId"] == rule["condition"]]
        value: float = cond["model"]["conditions"][0]["evaluator"]["params"][0]
        return value

    assert threshold("trygg-crowd-los-f") == WALKWAY_BOUNDS[4]
    assert threshold("trygg-crowd-los-e") == WALKWAY_BOUNDS[3]
    assert by_uid["trygg-crowd-los-f"]["labels"]["severity"] == "Extreme"
    assert by_uid["trygg-crowd-los-e"]["labels"]["severity"] == "Severe"


def test_the_crowd_board_refreshes_within_ten_seconds() -> None:
    board = yaml.safe_load((ROOT / "dashboards" / "generated" / "trygg-crowds.json").read_text())
    assert board["refresh"].endswith("s")
    assert 5 <= int(board["refresh"][:-1]) <= 10


@pytest.mark.integration
def test_the_rules_query_gives_each_zone_its_densest_reading(stack: LocalStack) -> None:
    db = "trygg_alert_rules"
    now_ns = time.time_ns()
    points = (("z1", 0.4), ("z1", 2.6), ("z2", 0.9))
    lines = "\n".join(
        f"crowd,asset={asset},device=p1,sensor=people,site=arenastaden "
        f"peopleDensity={density},peopleCount={round(density * 100)}i {now_ns - i * 10**9}"
        for i, (asset, density) in enumerate(points)
    )
    with httpx.Client(base_url=stack.influx_url, timeout=10) as client:
        client.post("/query", data={"q": f'CREATE DATABASE "{db}"'}).raise_for_status()
        client.post("/write", params={"db": db}, content=lines).raise_for_status()
        resp = client.get("/query", params={"q": density_query(120), "db": db})
        resp.raise_for_status()
    (result,) = resp.json()["results"]
    peaks = {
        serie["tags"]["asset"]: max(v[1] for v in serie["values"]) for serie in result["series"]
    }
    assert peaks == {"z1": 2.6, "z2": 0.9}
    assert peaks["z1"] > WALKWAY_BOUNDS[4] > peaks["z2"]
