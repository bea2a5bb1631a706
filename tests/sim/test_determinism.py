"""Same scenario and seed: the same injected faults and the same readings, in any process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sim.replay import digest, readings
from sim.scenario import load

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "scenarios" / "default.yaml"
CODE = (
    "from pathlib import Path; from sim.scenario import load; from sim.replay import digest; "
    f"print(digest(load(Path({str(DEFAULT)!r})), every_s=600)[0])"
)


def test_same_scenario_and_seed_give_the_same_readings_in_another_process() -> None:
    here, n = digest(load(DEFAULT), every_s=600)
    assert n > 5000
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    there = subprocess.run(
        [sys.executable, "-c", CODE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.strip()
    assert there == here


def test_another_seed_gives_other_readings() -> None:
    assert digest(load(DEFAULT), every_s=600) != digest(load(DEFAULT, seed=8), every_s=600)


def test_the_injected_faults_show_in_the_readings() -> None:
    scenario = load(DEFAULT)
    by = {i.fault: i for i in scenario.injections}
    rows = list(readings(scenario, every_s=600))

    def values(asset: str, field: str) -> list[object]:
        return [v for _t, a, _s, f, v in rows if a == asset and f == field]

    fire = by["bin_fire"].target
    assert fire is not None
    assert max(v for v in values(fire, "temperature") if isinstance(v, float)) > 70
    dropped = by["bin_dropped"].target
    assert dropped is not None
    assert True in values(dropped, "tilted")
    dead = by["bin_sensor_dead"].target
    assert dead is not None
    assert values(dead, "error")
    covered = by["camera_covered"].target
    assert covered is not None
    assert min(v for v in values(covered, "healthScore") if isinstance(v, float)) < 0.3
