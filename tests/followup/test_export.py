"""The follow-up export's lines (hub/followup/export.py): sums per site and kind, one point
per resolved ticket. Its run against real InfluxDB is in test_ground_truth.py."""

from __future__ import annotations

from hub.followup.export import hour_lines, repair_lines
from hub.followup.figures import TicketFacts
from hub.followup.hours import HourRow

H = 1_772_319_600_000
HOUR = 3_600_000


def _row(asset: str, site: str, kind: str, fld: str, value: str, sec: float = 0.0) -> HourRow:
    return HourRow(asset, kind, site, H, fld, value, seconds=sec)


def test_an_hour_is_summed_per_site_and_kind() -> None:
    rows = [
        _row("l1", "a", "streetlight", "lamp", "litDark", 3000.0),
        _row("l1", "a", "streetlight", "lamp", "unknownDark", 600.0),
        _row("l2", "a", "streetlight", "lamp", "unlitDark", 3600.0),
        HourRow("l2", "streetlight", "a", H, "lamp", "litDay", 0.0, amount=12.5),
        _row("l1", "a", "streetlight", "reporting", "heard", 3000.0),
        _row("l1", "a", "streetlight", "reporting", "silent", 600.0),
        _row("b1", "b", "bin", "bin", "full", 900.0),
        HourRow("b1", "bin", "b", H, "event", "fire", count=1),
        HourRow("b1", "bin", "b", H, "event", "collection", count=2),
    ]
    lamp, bins = hour_lines(rows, H)
    assert bins.startswith("followup,kind=bin,site=b ")
    assert "bin_full_s=900.0" in bins
    assert "fires=1i" in bins
    assert "collections=2i" in bins
    assert lamp.startswith("followup,kind=streetlight,site=a ")
    assert "lamp_dark_s=7200.0" in lamp
    assert "lamp_lit_dark_s=3000.0" in lamp
    assert "lamp_day_wh=12.5" in lamp
    assert "asset_s=3600.0" in lamp
    assert "heard_s=3000.0" in lamp
    assert lamp.endswith(f" {H}")


def test_only_resolved_tickets_become_repair_points() -> None:
    done = TicketFacts(
        7, "lampOut", "l1", "a", H, H + HOUR // 2, H + 30 * HOUR, sla_due_ms=H + 24 * HOUR
    )
    open_ = TicketFacts(8, "binFull", "b1", None, H)
    (line,) = repair_lines([done, open_])
    assert line.startswith("followup_repair,kind=lampOut,site=a,ticket=7 ")
    assert "repair_h=30.0" in line
    assert "ack_h=0.5" in line
    assert "within_sla=0.0" in line
    assert line.endswith(f" {H + 30 * HOUR}")
