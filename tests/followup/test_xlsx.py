"""The workbook opens in openpyxl and holds the JSON's numbers, one sheet per table."""

from __future__ import annotations

import io
import json

import pytest
from openpyxl import load_workbook

from hub.followup.crowds import AlertFacts, EventFacts
from hub.followup.figures import Report, TicketFacts, report
from hub.followup.hours import HOUR_MS, HourRow
from hub.followup.periods import parse_period
from hub.followup.render import tables, to_json
from hub.followup.xlsx import to_xlsx

MARCH = parse_period("2026-03")


def _report() -> Report:
    h, p = MARCH.start_ms, MARCH.previous().start_ms
    rows = [
        HourRow("l1", "streetlight", "c", h, "lamp", "litDark", seconds=2700.0),
        HourRow("l1", "streetlight", "c", h, "lamp", "unlitDark", seconds=900.0),
        HourRow("l1", "streetlight", "c", p, "lamp", "litDark", seconds=3600.0),
        HourRow("z", "crowd", "c", h, "levelOfService", "F", seconds=750.0),
    ]
    tickets = [TicketFacts(1, "lampOut", "l1", "c", h, h + HOUR_MS, h + 5 * HOUR_MS)]
    events = [EventFacts("Derby", "Arenan", ("z",), h, h + 3 * HOUR_MS, 40000)]
    alerts = [AlertFacts(1, "crowdLevel", "z", None, h, h + 4 * 60_000)]
    return report(MARCH, rows, tickets, events=events, alerts=alerts)


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_every_table_is_a_sheet_with_the_same_numbers(lang: str) -> None:
    r = _report()
    wb = load_workbook(io.BytesIO(to_xlsx(r, lang)))
    expected = tables(r, lang)
    assert len(wb.sheetnames) == len(expected)
    for ws, tb in zip(wb.worksheets, expected, strict=True):
        got = [tuple(c.value for c in row) for row in ws.iter_rows()]
        assert got[0] == tb.header
        assert got[1:] == list(tb.rows)
    doc = json.loads(to_json(r))
    sheets = {ws.title: ws for ws in wb.worksheets}
    light = sheets[expected[0].title]
    assert light["B3"].value == doc["current"]["lighting"]["availability"] == 0.75
    assert light["B3"].number_format == "0.0%"
    crowd = next(tb for tb in expected if tb.key == "crowds")
    values = [tuple(c.value for c in row) for row in sheets[crowd.title].iter_rows()]
    minutes_f = doc["current"]["crowds"]["zones"][0]["minutes_f"]
    assert minutes_f == 12.5
    assert any(v[1] == minutes_f and str(v[0]).endswith(": z") for v in values)
