"""The simulator's account of a period (sim/truth.py) and its sampled readings
(sim/sampling.py), on small scenarios whose answers can be worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sim.sampling import samples
from sim.scenario import Scenario, load
from sim.truth import Span, Visit, account, crew_log, repairs
from tests.purity import io_imported_by

SEVERITY = {"lampOut": "major", "deviceOffline": "major", "binFull": "minor"}
SLA_H = {"major": 24.0, "minor": 72.0, "critical": 2.0}
# A December night in Solna: dark from before 15:00 UTC to after 07:00 UTC.
NIGHT = """name: night
seed: 7
start: "2026-12-14T23:00:00Z"
duration: 24h
city: {devices: 10}
faults:
  - {at: 20h, fault: lamp_out, clear_after: 2h, target: {asset: pole-00000-lamp0}}
  - {at: 21h, fault: device_offline, clear_after: 1h, target: {device: pole-00007}}
  - {at: 12h, fault: bin_full, target: {asset: pole-00001-bin0}}
"""


def _load(tmp_path: Path, text: str) -> Scenario:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return load(path)


def test_the_account_imports_no_io_library() -> None:
    assert io_imported_by("sim.truth", io=("asyncio", "paho", "sqlalchemy", "httpx")) == []


def test_a_night_lamp_out_and_a_silent_pole_are_dark_lamp_hours(tmp_path: Path) -> None:
    sc = _load(tmp_path, NIGHT)
    truth = account(sc, [], start=sc.start, end=sc.end, sla_h=SLA_H)
    assert truth.hours == 24
    assert truth.lamps == 12
    # Two hours of one lamp, and one hour of both lamps of the silent pole, all at night.
    assert truth.lamp_dark_s - truth.lamp_lit_dark_s == 2 * 3600 + 2 * 3600
    assert truth.lamp_lit_day_s == 0
    assert truth.reporting["streetlight"] == pytest.approx(1 - 2 * 3600 / (12 * 86400))
    assert truth.reporting["bin"] == 1.0
    # The bin overflows from 11:00 UTC to the end and is never emptied by its crew.
    assert truth.bin_full_s.low >= 12 * 3600
    assert truth.camera_healthy == 1.0


def test_the_spring_dst_day_has_23_hours(tmp_path: Path) -> None:
    sc = _load(tmp_path, NIGHT.replace("2026-12-14T23", "2026-03-28T23").split("faults:")[0])
    start = datetime(2026, 3, 28, 23, tzinfo=UTC)  # local midnight, 29 March
    truth = account(sc, [], start=start, end=start + timedelta(hours=23), sla_h=SLA_H)
    assert truth.hours == 23


def test_the_crew_reports_acknowledges_and_repairs_each_fault(tmp_path: Path) -> None:
    sc = _load(tmp_path, NIGHT)
    visits = crew_log(sc, severity=SEVERITY)
    assert [v.kind for v in visits] == ["binFull", "lampOut", "deviceOffline"]
    for v, inj in zip(visits, sorted(sc.injections, key=lambda i: i.at), strict=True):
        assert v.opened == inj.at + timedelta(minutes=5)
        assert v.resolved == inj.clear_at
        assert v.opened + timedelta(minutes=15) <= v.acknowledged or v.acknowledged == v.resolved
        assert v.acknowledged <= (v.resolved or v.opened + timedelta(hours=6))
    assert visits[2].asset == "pole-00007"  # a device's ticket is on the device
    with pytest.raises(KeyError):
        crew_log(sc, severity={})


def test_repair_times_by_nearest_rank_and_sla() -> None:
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    h = timedelta(hours=1)
    visits = [Visit("lampOut", "a", "major", t0, t0 + h, t0 + n * h) for n in (1, 2, 30)] + [
        Visit("lampOut", "b", "major", t0, t0 + 2 * h, None)
    ]
    (r,) = repairs(visits, start=t0, end=t0 + 24 * h, sla_h=SLA_H)
    assert (r.opened, r.resolved) == (4, 3)
    assert (r.repair_median_h, r.repair_p90_h) == (2.0, 30.0)
    assert (r.ack_median_h, r.ack_p90_h) == (1.0, 2.0)
    assert r.within_sla == pytest.approx(2 / 3)
    assert repairs(visits, start=t0 + h, end=t0 + 24 * h, sla_h=SLA_H) == ()


def test_a_span_holds_its_range_with_slack() -> None:
    assert Span(2, 4).holds(3)
    assert not Span(2, 4).holds(5)
    assert Span(2, 4).holds(5, slack=1)


def test_samples_follow_each_drivers_interval_and_a_dead_pole_sends_nothing(
    tmp_path: Path,
) -> None:
    sc = _load(tmp_path, NIGHT.replace("duration: 24h", "duration: 22h30m"))
    down = (sc.start + timedelta(hours=21), sc.start + timedelta(hours=22))
    lamp_t: list[int] = []
    bin_t: set[int] = set()
    silent = 0
    for s in samples(sc):
        at = datetime.fromtimestamp(s.t_ms / 1000, tz=UTC)
        if s.device == "pole-00007" and down[0] <= at < down[1]:
            silent += 1
        if s.asset == "pole-00000-lamp1":
            lamp_t.append(s.t_ms)
        if s.asset == "pole-00001-bin1" and s.sensor == "level":
            bin_t.add(s.t_ms)
        assert s.kind.value != "crowd"
    assert silent == 0
    assert len(lamp_t) == 22 * 60 + 30 + 1  # every minute, both ends included
    assert len(bin_t) == 22 * 12 + 6 + 1  # every five minutes
