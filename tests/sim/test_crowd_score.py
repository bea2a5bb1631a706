"""The crowd-alert score: surges that became alerts, true situations, false alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sim.city import build_city
from sim.crowd_score import AlertView, alert_views, crowd_alerts, zone_truth
from sim.scenario import Injection
from sim.world import ArenaEvent, World

T0 = datetime(2026, 12, 11, 15, 0, tzinfo=UTC)
SURGE = Injection(0, "crowd_surge", "z1", ("z1",), ("p1",), T0, T0 + timedelta(minutes=10))
LAMP = Injection(1, "lamp_out", "p2-lamp0", ("p2-lamp0",), ("p2",), T0, None)


def alert(aid: int, zone: str, minute: float, kind: str = "crowdLevel") -> AlertView:
    return AlertView(aid, kind, zone, "Extreme", T0 + timedelta(minutes=minute))


def never(_zone: str, _when: datetime) -> bool:
    return False


def egress_at_z9(zone: str, _when: datetime) -> bool:
    return zone == "z9"


@pytest.mark.parametrize(
    ("alerts", "want"),
    [
        ([alert(1, "z1", 2.5)], {"detected": 1, "missed": 0, "false_alerts": 0, "delay": 150.0}),
        # the wrong zone: a miss and a false alert
        ([alert(1, "z2", 2.5)], {"detected": 0, "missed": 1, "false_alerts": 1, "delay": None}),
        # long before the surge: no explanation
        ([alert(1, "z1", -30)], {"detected": 0, "missed": 1, "false_alerts": 1, "delay": None}),
        # after the clear and its grace: no explanation
        ([alert(1, "z1", 30)], {"detected": 0, "missed": 1, "false_alerts": 1, "delay": None}),
        # another sign of the same surge is not false; tickets' kinds are not alerts
        (
            [alert(1, "z1", 1), alert(2, "z1", 4, "crowdRising"), alert(3, "z1", 2, "binFire")],
            {"detected": 1, "missed": 0, "false_alerts": 0, "delay": 60.0},
        ),
    ],
)
def test_surges_pair_with_alerts(alerts: list[AlertView], want: dict[str, Any]) -> None:
    got = crowd_alerts([SURGE, LAMP], alerts, truth=never)
    assert got["available"] is True
    assert got["injected"] == 1
    assert (got["detected"], got["missed"], got["false_alerts"]) == (
        want["detected"],
        want["missed"],
        want["false_alerts"],
    )
    assert got["median_delay_s"] == want["delay"]


def test_an_alert_on_a_real_egress_queue_is_a_situation_not_false() -> None:
    got = crowd_alerts([SURGE], [alert(1, "z1", 1), alert(2, "z9", 60)], truth=egress_at_z9)
    assert (got["detected"], got["situations"], got["false_alerts"]) == (1, 1, 0)
    assert got["raised"] == 2


def test_a_hub_without_alerts_is_said_so() -> None:
    got = crowd_alerts([SURGE], None, truth=never)
    assert got["available"] is False
    assert "404" in got["note"]
    assert got["injected"] == 1


def test_api_objects_are_read_and_bad_ones_refused() -> None:
    item = {
        "id": 7,
        "kind": "crowdLevel",
        "severity": "Severe",
        "status": "raised",
        "zone": "pole-00003-crowd1",
        "raisedAt": "2026-12-11T15:02:00Z",
        "figures": {"peopleDensity": 1.3},
    }
    (view,) = alert_views([item])
    assert view == AlertView(
        7, "crowdLevel", "pole-00003-crowd1", "Severe", T0 + timedelta(minutes=2)
    )
    with pytest.raises(ValueError, match="not an alert"):
        alert_views([{k: v for k, v in item.items() if k != "zone"}])
    with pytest.raises(ValueError, match="timezone"):
        alert_views([item | {"raisedAt": "2026-12-11T15:02:00"}])


def test_ground_truth_sees_the_station_exit_queue_after_the_match() -> None:
    city = build_city(40, seed=7)
    end = datetime(2026, 12, 11, 18, 0, tzinfo=UTC)
    world = World(seed=7, events=(ArenaEvent("m", end - timedelta(hours=2), end, 45_000),))
    truth = zone_truth(city, world)
    station = next(a.id for _d, a in city.assets() if a.properties.get("exitZone") == "arena-syd")
    wide = next(a.id for _d, a in city.assets() if a.properties.get("exitZone") == "arena-ost")
    assert truth(station, end + timedelta(minutes=20))
    assert not truth(station, end - timedelta(hours=3))
    assert not truth(wide, end + timedelta(minutes=20))
    assert not truth("no-such-zone", end)
