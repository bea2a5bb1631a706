"""The default scenario in fast mode, end to end on real Mosquitto, InfluxDB and the hub.

One run (module fixture), then one assertion per fault kind, so a red kind names itself:
every injected fault becomes the right ticket, no false tickets, every cleared fault
resolves its ticket (infra outages: data flows into the hub again), and the score table
written as JSON says so.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from sim.faults import ALERT_FAULTS, FAULT_KINDS
from sim.run import RunConfig, run_city
from sim.scenario import load
from trygg.stack import free_port

pytestmark = pytest.mark.integration

DEFAULT = Path(__file__).resolve().parents[2] / "scenarios" / "default.yaml"
FAST = 120.0  # the scenario's 7.5 simulated hours in ~225 s: faster, a 2-core CI box lags


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info is not None:
            self.records.append(record)


@pytest.fixture(scope="module")
def run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, Any], Path, list[logging.LogRecord]]:
    state = tmp_path_factory.mktemp("city")
    scenario = load(DEFAULT, speed=FAST)
    cfg = RunConfig(
        scenario=scenario,
        scenario_path=DEFAULT,
        state_dir=state,
        api_port=free_port(),
        json_path=state / "score.json",
    )
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    try:
        doc = asyncio.run(run_city(cfg))
    finally:
        logging.getLogger().removeHandler(errors)
    return doc, state / "score.json", errors.records


def _row(doc: dict[str, Any], fault: str) -> dict[str, Any]:
    return next(r for r in doc["rows"] if r["fault"] == fault)


TICKET_FAULTS = [k for k in FAULT_KINDS if k not in ALERT_FAULTS]


@pytest.mark.parametrize("fault", TICKET_FAULTS)
def test_every_injected_fault_kind_becomes_the_right_ticket(
    run: tuple[dict[str, Any], Path, list[logging.LogRecord]], fault: str
) -> None:
    doc = run[0]
    row = _row(doc, fault)
    details = [f for f in doc["faults"] if f["fault"] == fault]
    assert row["injected"] >= 1
    assert row["missed"] == 0, details
    assert row["detected"] == row["injected"]
    assert row["false_tickets"] == 0, doc["false_tickets"]
    assert row["resolved"] == row["cleared"], details


def test_no_ticket_the_scenario_does_not_explain(
    run: tuple[dict[str, Any], Path, list[logging.LogRecord]],
) -> None:
    doc = run[0]
    assert doc["false_tickets"] == []
    assert doc["totals"]["false_tickets"] == 0


def test_the_score_is_written_as_json_and_counts_the_real_run(
    run: tuple[dict[str, Any], Path, list[logging.LogRecord]],
) -> None:
    doc, path, _errors = run
    assert json.loads(path.read_text()) == doc
    crowd = doc["crowd_alerts"]
    assert doc["totals"]["injected"] + crowd["injected"] == len(load(DEFAULT).injections)
    assert doc["hub"]["readings"] > 10_000  # the agents really reported through the hub
    assert doc["simulated_until"] == load(DEFAULT).end.isoformat()


def test_nothing_logged_an_unexpected_exception(
    run: tuple[dict[str, Any], Path, list[logging.LogRecord]],
) -> None:
    assert [r.getMessage() for r in run[2]] == []


def test_surges_are_scored_as_crowd_alerts_or_said_to_be_unscorable(
    run: tuple[dict[str, Any], Path, list[logging.LogRecord]],
) -> None:
    crowd = run[0]["crowd_alerts"]
    assert crowd["injected"] == sum(1 for i in load(DEFAULT).injections if i.fault in ALERT_FAULTS)
    assert crowd["injected"] >= 1
    if not crowd["available"]:
        assert "404" in crowd["note"]  # a hub without the alerts API
        return
    assert crowd["missed"] == 0, crowd["surges"]
    assert crowd["false_alerts"] == 0, crowd["false"]
    assert crowd["median_delay_s"] is not None
