"""A simulated crowd zone: counts, density and Fruin level of service from the world model.

The real pole gets these numbers from the ONNX person detector; the simulator gets them
from the arena's event calendar, the egress model of its exits and the squares' foot
traffic. Numbers only, as on a pole. An injected ``surge`` makes the zone's density climb
from what it is to well past Fruin's F on the zone's own scale within a few minutes, and
stay there until the fault is cleared.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from edge.drivers.base import Sample, SimFaults
from edge.drivers.sim_model import stable_key
from sim.places import CrowdZone, Scale
from sim.world import World
from trygg.contract import AssetKind
from trygg.fruin import CONGESTED_DENSITY, QUEUE_BOUNDS, WALKWAY_BOUNDS, queue_los, walkway_los

OCCLUSION_LIMIT: Final = 2.0
SURGE_RISE: Final = timedelta(minutes=3)
# A surge settles this far past the F bound of the zone's scale.
SURGE_PEAK_OVER_F: Final = 1.4


def surge_density(*, base: float, scale: Scale, since: timedelta) -> float:
    """Density ``since`` after a surge began in a zone at ``base`` persons/m²: a straight
    climb over ``SURGE_RISE`` to ``SURGE_PEAK_OVER_F`` times the scale's F bound."""
    f_bound = (WALKWAY_BOUNDS if scale == "walkway" else QUEUE_BOUNDS)[-1]
    peak = max(base, f_bound * SURGE_PEAK_OVER_F)
    share = min(1.0, max(0.0, since / SURGE_RISE))
    return base + (peak - base) * share


class SimCrowd:
    kind = AssetKind.CROWD

    def __init__(
        self,
        *,
        asset: str,
        place: str,
        area_m2: float,
        world: World,
        interval_s: float = 60.0,
        sensor: str = "people",
        zone: CrowdZone | None = None,
        capacity: int | None = None,
        scale: Scale = "walkway",
        faults: SimFaults | None = None,
    ) -> None:
        self.asset, self.sensor, self.interval_s = asset, sensor, interval_s
        self._place, self._area, self._world = place, area_m2, world
        self._zone, self._capacity, self._scale = zone, capacity, scale
        self._faults = faults
        self._key = stable_key(world.seed, asset)
        self._surge_since: datetime | None = None

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def _surging(self, now: datetime) -> timedelta | None:
        """How long the injected surge has been on (None: no surge), from its first read."""
        if self._faults is None or not self._faults.has(self.asset, "surge"):
            self._surge_since = None
            return None
        if self._surge_since is None:
            self._surge_since = now
        return now - self._surge_since

    def read(self, now: datetime) -> Sample:
        if self._zone is not None:
            count = self._world.zone_people(self._zone, now, self._key)
        else:
            count = self._world.people(self._place, self._area, now, self._key)
        since = self._surging(now)
        if since is not None:
            base = count / self._area
            count = round(surge_density(base=base, scale=self._scale, since=since) * self._area)
        density = count / self._area
        values: dict[str, float | int | bool | str] = {
            "peopleCount": count,
            "peopleDensity": round(density, 4),
            "levelOfService": walkway_los(density),
            "levelOfServiceQueue": queue_los(density),
            "occlusionLimited": density > OCCLUSION_LIMIT,
            "congested": density >= CONGESTED_DENSITY,
        }
        if self._capacity:
            values["occupancy"] = round(count / self._capacity, 4)
        return Sample(values)
