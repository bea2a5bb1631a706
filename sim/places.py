"""Solna's streets, squares and the arena, as the simulator lays them out. Pure data.

Coordinates are approximate but real (WGS84, from public maps), all inside the city's
extent of about 59.35-59.38 N, 17.97-18.05 E, so dashboards and the sun position see a
plausible city. A street is a polyline of (lat, lon) points; poles are spaced along it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

LAT_MIN: Final = 59.35
LAT_MAX: Final = 59.38
LON_MIN: Final = 17.97
LON_MAX: Final = 18.05


@dataclass(frozen=True, slots=True)
class Street:
    name: str
    slug: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class Square:
    """A public place: bins and cameras cluster here; ``busy`` scales litter and people."""

    name: str
    slug: str
    lat: float
    lon: float
    busy: float
    area_m2: float  # the crowd zone watched by its camera


ARENA: Final = Square("Strawberry Arena", "arenastaden", 59.3727, 18.0003, 2.0, 6000.0)

SQUARES: Final[tuple[Square, ...]] = (
    Square("Solna centrum", "solna-centrum", 59.3600, 17.9990, 1.6, 2500.0),
    Square("Råsunda torg", "rasunda", 59.3650, 18.0040, 1.2, 1200.0),
    ARENA,
    Square("Hagalunds torg", "hagalund", 59.3610, 18.0150, 1.0, 900.0),
    Square("Huvudsta centrum", "huvudsta", 59.3500, 17.9860, 1.0, 1000.0),
    Square("Frösunda torg", "frosunda", 59.3705, 18.0220, 0.9, 800.0),
)

STREETS: Final[tuple[Street, ...]] = (
    Street(
        "Solnavägen",
        "solnavagen",
        ((59.3520, 18.0260), (59.3560, 18.0160), (59.3600, 18.0060), (59.3620, 17.9990)),
    ),
    Street(
        "Råsundavägen",
        "rasundavagen",
        ((59.3560, 18.0140), (59.3610, 18.0070), (59.3660, 17.9990)),
    ),
    Street(
        "Frösundaleden",
        "frosundaleden",
        ((59.3720, 17.9900), (59.3715, 18.0050), (59.3700, 18.0300)),
    ),
    Street(
        "Gustav III:s boulevard",
        "gustav3",
        ((59.3640, 18.0180), (59.3690, 18.0120), (59.3740, 18.0060)),
    ),
    Street(
        "Sundbybergsvägen",
        "sundbybergsvagen",
        ((59.3605, 17.9750), (59.3602, 17.9870), (59.3600, 17.9960)),
    ),
    Street(
        "Huvudstagatan",
        "huvudstagatan",
        ((59.3490, 17.9800), (59.3505, 17.9880), (59.3530, 17.9950)),
    ),
    Street(
        "Vintervägen",
        "vintervagen",
        ((59.3600, 18.0100), (59.3612, 18.0160), (59.3625, 18.0220)),
    ),
    Street(
        "Östra vägen",
        "ostravagen",
        ((59.3560, 17.9920), (59.3590, 18.0000), (59.3640, 18.0080)),
    ),
)


def inside(lat: float, lon: float) -> bool:
    """True when (lat, lon) lies inside the simulated city's extent."""
    return LAT_MIN <= lat <= LAT_MAX and LON_MIN <= lon <= LON_MAX


def place_by_slug(slug: str) -> Square:
    """The square (or the arena) with this slug; KeyError names the known ones."""
    for square in SQUARES:
        if square.slug == slug:
            return square
    raise KeyError(f"unknown place {slug!r}; known: {', '.join(s.slug for s in SQUARES)}")
