"""An alert carries numbers, level letters and names of places only: whatever else a
reading holds never reaches its figures."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from hub.alerts.model import Alert, AlertRaise
from hub.rules.crowd import CrowdParams, CrowdState, crowd_step

LETTERS = set("ABCDEF")
NUMERIC = {
    "peopleDensity",
    "peopleCount",
    "occupancy",
    "risePerMin",
    "temperature",
    "riseC",
    "fillingLevel",
}


def _clean(figures: Mapping[str, object]) -> bool:
    for key, value in figures.items():
        if key == "levelOfService":
            if value not in LETTERS:
                return False
        elif key not in NUMERIC or isinstance(value, str | bool):
            return False
    return True


def test_crowd_figures_hold_numbers_and_letters_only() -> None:
    obs: dict[str, float | int | bool | str] = {
        "peopleDensity": 2.4,
        "peopleCount": 240,
        "occupancy": 1.1,
        "boxes": "[[10,20,30,40]]",
        "frame": "base64...",
        "reporter": "anna@example.se",
    }
    p = CrowdParams(zone_area=100.0, los_min_s=0, over_min_s=0)
    _, acts = crowd_step(CrowdState(), obs, zone="z", t_ms=0, p=p)
    raises = [a for a in acts if isinstance(a, AlertRaise)]
    assert {a.kind for a in raises} == {"crowdLevel", "crowdOverCapacity"}
    for a in raises:
        assert _clean(a.figures), a.figures
        alert = Alert(
            1, a.kind, a.severity, "raised", "z", "Arenan", None, a.figures, datetime.now(UTC)
        )
        body = alert.to_json()
        assert not any(v in str(body) for v in ("boxes", "frame", "anna@"))
