"""A simulated crowd zone: counts, density and Fruin level of service from the world model.

The real pole gets these numbers from the ONNX person detector; the simulator gets them
from the arena's event calendar and the squares' foot traffic. Numbers only, as on a pole.
"""

from __future__ import annotations

from datetime import datetime

from edge.drivers.base import Sample
from sim.world import World, stable_key
from trygg.contract import AssetKind

FRUIN_WALKWAY = ((0.31, "A"), (0.43, "B"), (0.72, "C"), (1.08, "D"), (2.15, "E"))
FRUIN_QUEUE = ((0.83, "A"), (1.08, "B"), (1.54, "C"), (3.59, "D"), (5.38, "E"))
OCCLUSION_LIMIT = 2.0


def level_of_service(density: float, table: tuple[tuple[float, str], ...]) -> str:
    for limit, letter in table:
        if density < limit:
            return letter
    return "F"


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
                "levelOfService": level_of_service(density, FRUIN_WALKWAY),
                "levelOfServiceQueue": level_of_service(density, FRUIN_QUEUE),
                "occlusionLimited": density > OCCLUSION_LIMIT,
                "congested": density >= FRUIN_WALKWAY[3][0],
            }
        )
