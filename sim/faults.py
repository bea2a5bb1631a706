"""Every fault a scenario can inject, what it does to the city, and what the hub should make
of it. The one table that maps the simulator's ground truth to expected ticket kinds.

Pure data. ``driver_fault`` is the SimFaults name the simulated drivers react to (see
edge/drivers/base.py and sim/drivers/); ``ticket`` is the hub ticket kind (hub/rules) that
must appear on the target (or its cabinet/device) within the fault's lifetime; infra faults
expect no ticket: the hub must notice the outage itself and stay quiet (no false tickets).
``alert`` is the hub alert kind a crowd fault must raise on its zone (alerts are not
tickets; the score counts them in a section of their own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

TargetKind = Literal["lamp", "cabinet", "bin", "camera", "zone", "device", "infra"]


@dataclass(frozen=True, slots=True)
class FaultKind:
    name: str
    target: TargetKind
    driver_fault: str | None  # SimFaults name set on each affected asset; None: not a driver fault
    ticket: str | None  # expected hub ticket kind; None for infra faults
    needs: Literal["any", "dark", "daylight"] = "any"
    description: str = ""
    alert: str | None = None  # expected hub alert kind (crowd safety), scored apart


FAULT_KINDS: Final[dict[str, FaultKind]] = {
    k.name: k
    for k in (
        FaultKind("lamp_out", "lamp", "out", "lampOut", "dark", "luminaire fails: off at night"),
        FaultKind("lamp_flicker", "lamp", "flicker", "flicker", "any", "end-of-life cycling"),
        FaultKind("lamp_dayburn", "lamp", "dayburn", "dayBurning", "daylight", "on in daylight"),
        FaultKind(
            "cabinet_outage",
            "cabinet",
            "cabinet_outage",
            "cabinetOut",
            "dark",
            "control cabinet loses power: every lamp it feeds goes dark (one root-cause ticket)",
        ),
        FaultKind(
            "lamp_degraded",
            "lamp",
            "degraded",
            "powerDrop",
            "dark",
            "failing LED driver: 60 % of its rated power",
        ),
        FaultKind("bin_full", "bin", "full", "binFull", "any", "a round misses it; overflows"),
        FaultKind("bin_fire", "bin", "fire", "binFire", "any", "fire in the bin"),
        FaultKind("bin_dropped", "bin", "dropped", "binTilted", "any", "knocked over"),
        FaultKind(
            "bin_sensor_dead",
            "bin",
            "sensor_dead",
            "binSensorDead",
            "any",
            "the ultrasonic level sensor stops answering",
        ),
        FaultKind("camera_covered", "camera", "covered", "cameraCovered", "any", "lens covered"),
        FaultKind("camera_blurred", "camera", "blurred", "cameraBlurred", "any", "out of focus"),
        FaultKind(
            "camera_displaced", "camera", "displaced", "cameraDisplaced", "any", "turned away"
        ),
        FaultKind("camera_frozen", "camera", "frozen", "cameraFrozen", "any", "picture stuck"),
        FaultKind("graffiti", "camera", "graffiti", "graffiti", "any", "new tag on the wall"),
        FaultKind(
            "device_offline",
            "device",
            None,
            "deviceOffline",
            "any",
            "the pole's Pi loses power: its agent stops",
        ),
        FaultKind(
            "crowd_surge",
            "zone",
            "surge",
            None,
            "any",
            "a crowd zone's density climbs past Fruin's F on its scale and stays there",
            alert="crowdLevel",
        ),
        FaultKind("broker_outage", "infra", None, None, "any", "Mosquitto stops, then restarts"),
        FaultKind("influx_outage", "infra", None, None, "any", "InfluxDB stops, then restarts"),
    )
}

# Faults that must become an alert rather than a ticket.
ALERT_FAULTS: Final = frozenset(k.name for k in FAULT_KINDS.values() if k.alert)
# Ticket kinds the hub may raise that no injected fault explains are false tickets.
EXPECTED_TICKETS: Final = frozenset(k.ticket for k in FAULT_KINDS.values() if k.ticket)
# Planning tickets that predict rather than claim a fault (a bin forecast to fill within
# hours): shown in the score, never counted as false, since the world's collection rounds
# (not the hub) decide whether the forecast would have come true.
ADVISORY_TICKETS: Final = frozenset({"binForecastFull"})
