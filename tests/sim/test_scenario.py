"""Scenario files: parsed strictly, resolved deterministically, refused with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.faults import FAULT_KINDS
from sim.scenario import ScenarioError, load, parse_duration

DEFAULT = Path(__file__).resolve().parents[2] / "scenarios" / "default.yaml"

HEADER = """name: t
seed: 1
start: "2026-12-11T11:00:00Z"
duration: 7h
city: {devices: 40}
"""


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90.0),
        ("90s", 90.0),
        ("30m", 1800.0),
        ("2h", 7200.0),
        ("1h45m", 6300.0),
        ("1.5d", 129600.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2x", "h", "-5m", "1h-2m"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_the_default_scenario_covers_every_fault_kind() -> None:
    scenario = load(DEFAULT)
    assert {i.fault for i in scenario.injections} == set(FAULT_KINDS)


def test_each_fault_gets_a_pole_of_its_own() -> None:
    scenario = load(DEFAULT)
    seen: set[str] = set()
    for inj in scenario.injections:
        assert not seen & set(inj.devices), inj
        seen |= set(inj.devices)


def test_cabinet_outage_hits_every_lamp_of_the_cabinet() -> None:
    scenario = load(DEFAULT)
    (cab,) = [i for i in scenario.injections if i.fault == "cabinet_outage"]
    assert cab.target is not None
    assert list(cab.assets) == scenario.city.cabinets()[cab.target]


def test_same_seed_same_faults_other_seed_other_targets() -> None:
    a, b, c = load(DEFAULT), load(DEFAULT), load(DEFAULT, seed=99)
    assert a.injections == b.injections
    assert [i.target for i in a.injections] != [i.target for i in c.injections]


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(HEADER + body)
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("faults:\n  - {at: 1h, fault: lamp_exploded}\n", "unknown fault 'lamp_exploded'"),
        ("faults:\n  - {at: 9h, fault: bin_fire}\n", "after the scenario ends"),
        ("faults:\n  - {at: 1h, fault: broker_outage}\n", "needs clear_after"),
        ("faults:\n  - {at: 15m, fault: lamp_out, clear_after: 1h}\n", "never in dark"),
        ("faults:\n  - {at: 5h, fault: lamp_dayburn}\n", "never in daylight"),
        (
            "faults:\n  - {at: 1h, fault: bin_fire, target: {asset: pole-99999-bin0}}\n",
            "no bin 'pole-99999-bin0'",
        ),
        ("faults:\n  - {at: 1h, fault: bin_fire, colour: red}\n", "colour"),
        ("faults:\n  - {at: soon, fault: bin_fire}\n", "not a duration"),
    ],
)
def test_bad_scenarios_are_refused_with_file_and_line(
    tmp_path: Path, body: str, message: str
) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ScenarioError, match=message) as info:
        load(path)
    assert f"{path}:7" in str(info.value)


def test_two_faults_on_one_pole_are_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "faults:\n"
        "  - {at: 1h, fault: bin_fire, target: {asset: pole-00001-bin0}}\n"
        "  - {at: 2h, fault: bin_full, target: {asset: pole-00001-bin1}}\n",
    )
    with pytest.raises(ScenarioError, match="already carries another fault"):
        load(path)


def test_a_fault_can_be_pinned_near_a_place(tmp_path: Path) -> None:
    path = _write(tmp_path, "faults:\n  - {at: 1h, fault: bin_full, target: {near: arenastaden}}\n")
    (inj,) = load(path).injections
    assert inj.target is not None
    city = load(path).city
    assert {a.place for _d, a in city.assets() if a.id == inj.target} == {"arenastaden"}
