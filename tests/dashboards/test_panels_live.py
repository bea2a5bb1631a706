"""Every dashboard query against a real InfluxDB filled by a simulated city through the hub.

Each panel query, annotation and variable query is interpolated the way Grafana does it
(``$timeFilter``, ``$__interval``, each variable tried with one value, several values and
All while the others are All) and run on the real InfluxDB. A query whose measurements the
fleet produces must return at least one series; a query reading a measurement listed in
``fleet.UNPRODUCED`` must still parse, and the list itself is checked to contain only
measurements that really have no data, so it can only shrink.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from dashboards.catalogue import dashboards
from dashboards.model import Dashboard, Query
from dashboards.render import ALL, TimeRange, interpolate
from dashboards.schema import BY_NAME, FOLLOWUP, FOLLOWUP_REPAIR, READING_KINDS, ROLLUP_RP
from tests.dashboards.fleet import UNPRODUCED, CityRun, run_city
from trygg.stack import LocalStack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def city(
    stack: LocalStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[CityRun, httpx.Client]]:
    import uuid

    unique = uuid.uuid4().hex[:8]
    run = asyncio.run(run_city(stack, tmp_path_factory.mktemp("city"), unique, real_s=6.0))
    with httpx.Client(base_url=run.influx_url, timeout=30) as client:
        yield run, client


def _query(client: httpx.Client, db: str, text: str) -> dict[str, Any]:
    resp = client.get("/query", params={"db": db, "q": text, "epoch": "ms"})
    resp.raise_for_status()
    result: dict[str, Any] = resp.json()["results"][0]
    return result


@dataclass(frozen=True)
class Check:
    dashboard: str
    what: str  # "panel <title> [A]", "annotation <name>" or "variable <name>"
    query: Query


def _checks(d: Dashboard) -> list[Check]:
    out = [
        Check(d.uid, f"panel {p.title!r} [{chr(65 + i)}]", q)
        for p in d.panels()
        for i, q in enumerate(p.queries)
    ]
    out += [Check(d.uid, f"annotation {a.name!r}", a.query) for a in d.annotations]
    return out


_KIND_EQ = re.compile(r"\"kind\" (?:= '(\w+)'|=~ (/\^[^/]*/))")


def _sources(q: Query) -> set[str]:
    """Measurements read, plus ``<measurement>:<kind>`` when a query keeps one ``kind``."""
    found = set(q.measurements())
    kinds = [eq or regex for eq, regex in _KIND_EQ.findall(q.text)]
    return found | {f"{m}:{k}" for m in found for k in kinds}


def _produced(q: Query) -> bool:
    return not (_sources(q) & UNPRODUCED.keys())


def _count_query(source: str) -> str:
    name, _, kind = source.partition(":")
    # The follow-up sums live in the five-year policy, not the default one.
    rolled = name in (FOLLOWUP.name, FOLLOWUP_REPAIR.name)
    where = f'"{ROLLUP_RP}"."{name}"' if rolled else f'"{name}"'
    if not kind:
        return f"SELECT count(*) FROM {where}"
    match = f"=~ {kind}" if kind.startswith("/") else f"= '{kind}'"
    return f'SELECT count(*) FROM {where} WHERE "kind" {match}'


def _values(client: httpx.Client, run: CityRun, d: Dashboard) -> dict[str, list[str]]:
    """Each variable's options, from its own query with the others at All (as Grafana)."""
    tr = TimeRange(run.start, run.end)
    everything = {v.name: ALL for v in d.variables}
    values: dict[str, list[str]] = {}
    for v in d.variables:
        result = _query(
            client, run.database, interpolate(v.query, time_range=tr, variables=everything)
        )
        assert "error" not in result, f"{d.uid}: variable {v.name}: {result['error']}"
        values[v.name] = sorted(
            {str(row[-1]) for s in result.get("series", []) for row in s["values"]}
        )
    return values


def _selections(values: dict[str, list[str]]) -> list[tuple[str, dict[str, tuple[str, ...]]]]:
    """All at All, then each variable with one value and with several, the rest at All."""
    base = dict.fromkeys(values, ALL)
    out: list[tuple[str, dict[str, tuple[str, ...]]]] = [("all", base)]
    for name, options in values.items():
        if not options:
            continue  # only on dashboards whose kind the fleet cannot produce yet
        out.append((f"{name}={options[0]}", {**base, name: (options[0],)}))
        out.append((f"{name}={'|'.join(options[:3])}", {**base, name: tuple(options[:3])}))
    return out


def test_variables_offer_several_values(city: tuple[CityRun, httpx.Client]) -> None:
    run, client = city
    for d in dashboards():
        values = _values(client, run, d)
        for v in d.variables:
            if _produced(Query(v.query)):
                assert len(values[v.name]) >= 2, f"{d.uid}: ${v.name} offers {values[v.name]}"
        if "site" in values:
            assert {"solna-centrum", "arenastaden"} <= set(values["site"])
        if "kind" in values:
            assert {"streetlight", "bin", "device"} <= set(values["kind"]) <= set(READING_KINDS)


def test_every_produced_panel_query_returns_series(
    city: tuple[CityRun, httpx.Client], capsys: pytest.CaptureFixture[str]
) -> None:
    run, client = city
    tr = TimeRange(run.start, run.end)
    failures: list[str] = []
    ran_live = ran_parse_only = 0
    live_panels: set[str] = set()
    for d in dashboards():
        values = _values(client, run, d)
        selections = _selections(values)
        for check in _checks(d):
            live = _produced(check.query)
            for label, chosen in selections if live else selections[:1]:
                text = interpolate(check.query.text, time_range=tr, variables=chosen)
                result = _query(client, run.database, text)
                where = f"{check.dashboard}: {check.what} with {label}"
                if "error" in result:
                    failures.append(f"{where}: InfluxDB error {result['error']}\n  {text}")
                elif live and not result.get("series"):
                    failures.append(f"{where}: no series\n  {text}")
                if live:
                    ran_live += 1
                    live_panels.add(f"{check.dashboard}: {check.what}")
                else:
                    ran_parse_only += 1
    assert not failures, f"{len(failures)} failing queries:\n" + "\n".join(failures)
    assert ran_live > 0
    with capsys.disabled():
        print(
            f"\n[dashboards] {ran_live} panel/annotation queries returned data from the "
            f"simulated city ({len(live_panels)} distinct queries); {ran_parse_only} queries "
            f"on not-yet-written measurements parsed"
        )


def test_unproduced_list_is_honest(city: tuple[CityRun, httpx.Client]) -> None:
    """An entry whose measurement now has data must move to the live set (delete it), and
    every other measurement the dashboards know has data from the simulated city."""
    run, client = city
    for name in UNPRODUCED:
        assert name.partition(":")[0] in BY_NAME, f"UNPRODUCED names unknown {name!r}"
        result = _query(client, run.database, _count_query(name))
        assert not result.get("series"), (
            f"{name!r} now has data: remove it from UNPRODUCED so its panels are checked"
        )
    missing = [
        name
        for name in BY_NAME
        if name not in UNPRODUCED
        and not _query(client, run.database, _count_query(name)).get("series")
    ]
    assert not missing, f"no data from the simulated city for {missing}"


def test_every_measurement_read_is_in_the_schema() -> None:
    for d in dashboards():
        for check in _checks(d):
            for m in check.query.measurements():
                assert m == "$kind" or m in BY_NAME, f"{d.uid}: {check.what} reads {m!r}"
