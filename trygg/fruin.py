"""Fruin's pedestrian levels of service: a crowd density in persons/m² as a letter A..F.

The bounds are Fruin's area-per-person tables turned into persons/m² (1 / area, to two
decimals; the walkway's E/F bound from the metric table's 0.46 m²). Each level is the
half-open range ``[lower, upper)``: a density on a bound takes the worse level, as the
tables give a bound's area to the more crowded level.

- walkway:          A < 0.31 <= B < 0.43 <= C < 0.72 <= D < 1.08 <= E < 2.17 <= F
- standing/queuing: A < 0.83 <= B < 1.08 <= C < 1.54 <= D < 3.59 <= E < 5.38 <= F
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Final, Literal

Los = Literal["A", "B", "C", "D", "E", "F"]
LEVELS: Final[tuple[Los, ...]] = ("A", "B", "C", "D", "E", "F")
WALKWAY_BOUNDS: Final = (0.31, 0.43, 0.72, 1.08, 2.17)
QUEUE_BOUNDS: Final = (0.83, 1.08, 1.54, 3.59, 5.38)
# From walkway level E on, pedestrians can no longer choose their own speed.
CONGESTED_DENSITY: Final = WALKWAY_BOUNDS[3]


def level_of_service(density: float, bounds: tuple[float, ...]) -> Los:
    """The level whose ``[lower, upper)`` range holds ``density`` persons/m².

    Raises ValueError for a negative or NaN density.
    """
    if not density >= 0:
        raise ValueError(f"density must be a number >= 0 persons/m², got {density}")
    return LEVELS[bisect_right(bounds, density)]


def walkway_los(density: float) -> Los:
    """Fruin walkway level of service for ``density`` persons/m²."""
    return level_of_service(density, WALKWAY_BOUNDS)


def queue_los(density: float) -> Los:
    """Fruin standing/queuing level of service for ``density`` persons/m²."""
    return level_of_service(density, QUEUE_BOUNDS)
