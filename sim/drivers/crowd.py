"""A simulated crowd zone: counts, density and Fruin level of service from the world model.

The real pole gets these numbers from the ONNX person detector; the simulator gets them
from the arena's event calendar and the squares' foot traffic. Numbers only, as on a pole.
"""

from __future__ import annotations

from datetime import datetime

from edge.drivers.base import Sample
from edge.drivers.sim_model import stable_key
from sim.world import World
from trygg.contract import AssetKind
from trygg.fruin import CONGESTED_DENSITY, queue_los, walkway_los

OCCLUSION_LIMIT = 2.0


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
    ) -> None:
        self.asset, self.sensor, self.interval_s = asset, sensor, interval_s
        self._place, self._area, self._world = place, area_m2, world
        self._key = stable_key(world.seed, asset)

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def read(self, now: datetime) -> Sample:
        count = self._world.people(self._place, self._area, now, self._key)
        density = count / self._area
        return Sample(
            {
                "peopleCount": count,
                "peopleDensity": round(density, 4),
                "levelOfService": walkway_los(density),
                "levelOfServiceQueue": queue_los(density),
                "occlusionLimited": density > OCCLUSION_LIMIT,
                "congested": density >= CONGESTED_DENSITY,
            }
        )
