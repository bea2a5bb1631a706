"""The report as JSON, CSV and HTML (hub/followup/render.py)."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser

import pytest

from hub.followup.figures import Report, TicketFacts, report
from hub.followup.hours import HOUR_MS, HourRow
from hub.followup.pdf import to_pdf
from hub.followup.periods import parse_period
from hub.followup.render import render, tables

MARCH = parse_period("2026-03")


def _report() -> Report:
    h = MARCH.start_ms
    rows = [
        HourRow("l", "streetlight", "s", h, "lamp", "litDark", seconds=2700.0),
        HourRow("l", "streetlight", "s", h, "lamp", "unlitDark", seconds=900.0),
        HourRow("l", "streetlight", "s", h - HOUR_MS, "lamp", "litDark", seconds=3600.0),
    ]
    tickets = [
        TicketFacts(1, "lampOut", "l", "s", h, h + HOUR_MS, h + 2 * HOUR_MS, h + 9 * HOUR_MS)
    ]
    return report(MARCH, rows, tickets, place="Torget <&>")


def test_json_has_both_periods() -> None:
    doc = json.loads(render(_report(), "json"))
    assert doc["current"]["lighting"]["availability"] == pytest.approx(0.75)
    assert doc["previous"]["lighting"]["availability"] == pytest.approx(1.0)
    assert doc["current"]["repairs"][0]["repair_median_h"] == pytest.approx(2.0)


def test_csv_holds_every_table_row() -> None:
    r = _report()
    rows = list(csv.reader(io.StringIO(render(r, "csv"))))
    expected = sum(1 + len(t.rows) for t in tables(r))
    assert len(rows) == expected
    assert ["lighting", "Armaturer", "1", "1"] in rows


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.mark.parametrize(("lang", "word"), [("sv", "Gatubelysning"), ("en", "Street lighting")])
def test_html_is_in_the_language_asked_and_escapes_names(lang: str, word: str) -> None:
    page = render(_report(), "html", lang)
    parsed = _Text()
    parsed.feed(page)
    text = "".join(parsed.text)
    assert word in text
    assert "Torget <&>" in text  # escaped in the source, plain in the text
    assert "script" not in parsed.tags
    assert "75.0 %" in text


def test_unknown_format_or_language_is_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        render(_report(), "pdf")
    with pytest.raises(ValueError, match="language"):
        render(_report(), "html", "fi")


def test_pdf_is_a_pdf_with_the_title_and_every_page_drawn() -> None:
    data = to_pdf(_report(), "sv")
    assert data.startswith(b"%PDF-")
    assert b"%%EOF" in data[-16:]
    assert b"Uppf" in data  # the title, in the document's metadata
    with pytest.raises(ValueError, match="language"):
        to_pdf(_report(), "fi")
