"""A simulated camera: precomputed health scores fed into the real camera-health state machine.

At fleet scale no frames are decoded: the world gives day/night scene statistics, an
injected fault shifts them (``covered``, ``blurred``, ``displaced``, ``frozen``), and the
pole's own :class:`~edge.vision.health_state.HealthStateMachine` debounces, latches and
turns them into events, exactly as on a pole. ``graffiti`` raises the graffiti candidate
event with the tag's area in square metres. When a scenario clears a fault, the crew that
fixed the camera acknowledges the latched tamper alarm on site.

``read`` returns the health readings; :meth:`take_events` hands the pending events to the
simulator, which puts them through the agent's outbox (``Agent.emit_events``).
"""

from __future__ import annotations

from datetime import datetime

from edge.drivers.base import Sample, SimFaults
from edge.drivers.sim_model import gauss, noise, stable_key
from edge.vision.health_config import (
    EVENT_BLURRED,
    EVENT_COVERED,
    EVENT_DISPLACED,
    EVENT_FROZEN,
    EVENT_GRAFFITI,
    CameraHealthConfig,
    Duration,
)
from edge.vision.health_state import HealthScores, HealthStateMachine, Transition
from sim.world import World, daylight
from trygg.contract import AssetKind, EventItem

FAULT_EVENTS = {
    "covered": EVENT_COVERED,
    "blurred": EVENT_BLURRED,
    "displaced": EVENT_DISPLACED,
    "frozen": EVENT_FROZEN,
}
SEVERITY = {EVENT_COVERED: "major", EVENT_DISPLACED: "major", EVENT_BLURRED: "minor"}


def sim_health_config(camera: str) -> CameraHealthConfig:
    """Durations for a camera analysed once a simulated minute (the pole's default is
    per-frame); three observations over two minutes set or clear an event."""
    d = Duration(frames=3, seconds=120.0)
    return CameraHealthConfig(camera=camera, set_after=d, clear_after=d, frozen_after=d)


class SimCamera:
    kind = AssetKind.CAMERA

    def __init__(
        self,
        *,
        asset: str,
        lat: float,
        lon: float,
        wall_area_m2: float,
        world: World,
        faults: SimFaults,
        interval_s: float = 60.0,
        sensor: str = "health",
    ) -> None:
        self.asset, self.sensor, self.interval_s = asset, sensor, interval_s
        self._lat, self._lon, self._wall = lat, lon, wall_area_m2
        self._faults = faults
        self._key = stable_key(world.seed, asset)
        self._machine = HealthStateMachine(config=sim_health_config(asset))
        self._pending: list[EventItem] = []
        self._had: set[str] = set()

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def acknowledge(self, event_type: str | None, *, now: datetime) -> list[EventItem]:
        """The hub's ``ack_tamper``, as on a pole: clears latched events whose condition
        has gone; one still showing clears when it goes. Raises ValueError for an unknown
        type."""
        return [
            self._event(tr.event_type, int(tr.at.timestamp() * 1000), active=False)
            for tr in self._machine.acknowledge(event_type, now=now)
        ]

    def take_events(self) -> list[EventItem]:
        """Events produced since the last call (oldest first)."""
        out, self._pending = self._pending, []
        return out

    def _scores(self, now: datetime, day: bool, active: set[str]) -> HealthScores:
        t = int(now.timestamp() * 1000)
        k = self._key
        sharp = 1.0 + 0.05 * gauss(k, t, 1)
        covered = 0.02 + 0.02 * noise(k, t, 2)
        changed = (0.05 + 0.3 * noise(k, t, 3)) if day else (0.01 + 0.05 * noise(k, t, 3))
        shift, inliers = 0.002 * noise(k, t, 4), 80 + int(40 * noise(k, t, 5))
        if "covered" in active:
            covered, sharp = 0.85 + 0.1 * noise(k, t, 6), 0.3
        if "blurred" in active:
            sharp = 0.1 + 0.1 * noise(k, t, 7)
        if "displaced" in active:
            shift, inliers = 0.08 + 0.04 * noise(k, t, 8), 3
        if "frozen" in active:
            changed = 0.0
        return HealthScores(
            sharpness=max(0.0, sharp),
            edge_density=max(0.0, sharp * (1 - covered)),
            covered_fraction=covered,
            mean_luma=(125.0 if day else 40.0) + 5 * gauss(k, t, 9),
            luma_ratio=1.0 + 0.03 * gauss(k, t, 10),
            dark_fraction=0.05 if day else 0.5,
            bright_fraction=0.01,
            changed_fraction=changed,
            displacement_px=shift * 640,
            shift_fraction=shift,
            inliers=inliers,
        )

    def read(self, now: datetime) -> Sample:
        active = {
            name for name in (*FAULT_EVENTS, "graffiti") if self._faults.has(self.asset, name)
        }
        t = int(now.timestamp() * 1000)
        for gone in self._had - active:
            if gone in FAULT_EVENTS:
                self._emit_all(self._machine.acknowledge(FAULT_EVENTS[gone], now=now))
            elif gone == "graffiti":
                self._pending.append(self._event(EVENT_GRAFFITI, t, active=False))
        if "graffiti" in active and "graffiti" not in self._had:
            area = round(self._wall * (0.03 + 0.05 * noise(self._key, t, 20)), 3)
            self._pending.append(
                self._event(EVENT_GRAFFITI, t, active=True, values={"graffitiArea": area})
            )
        self._had = active
        day = daylight(self._lat, self._lon, now)
        scores = self._scores(now, day, active)
        self._emit_all(self._machine.update(scores, now=now, profile="day" if day else "night"))
        return Sample(
            {
                "sharpness": round(scores.sharpness or 0.0, 3),
                "edgeDensity": round(scores.edge_density or 0.0, 3),
                "meanLuma": round(scores.mean_luma or 0.0, 1),
                "displacement": round(scores.displacement_px or 0.0, 1),
                "frozen": EVENT_FROZEN in self._machine.active,
                "healthScore": round(self._machine.score, 3),
            }
        )

    def _emit_all(self, transitions: list[Transition]) -> None:
        for tr in transitions:
            at_ms = int(tr.at.timestamp() * 1000)
            self._pending.append(
                self._event(tr.event_type, at_ms, active=tr.active, values=dict(tr.values))
            )

    def _event(
        self, event_type: str, t_ms: int, *, active: bool, values: dict[str, float] | None = None
    ) -> EventItem:
        return EventItem(
            asset=self.asset,
            kind=AssetKind.CAMERA,
            type=event_type,
            t=t_ms,
            active=active,
            severity=SEVERITY.get(event_type, "warning"),  # type: ignore[arg-type]
            values=values or {},
        )
