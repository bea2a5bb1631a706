"""Solna's streets, squares and the arena, as the simulator lays them out. Pure data.

Coordinates are approximate but real (WGS84, from public maps), all inside the city's
extent of about 59.35-59.38 N, 17.97-18.05 E, so dashboards and the sun position see a
plausible city. A street is a polyline of (lat, lon) points; poles are spaced along it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

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


Scale = Literal["walkway", "queue"]


@dataclass(frozen=True, slots=True)
class CrowdZone:
    """A watched approach zone in front of one of the arena's exits.

    ``capacity`` is the most people the zone is planned to hold (two persons/m² on a
    walkway, Still's "packed" bound; more where people stand and queue); ``scale`` is the
    Fruin table its level of service is judged by. The exit's clear ``width_m`` is the
    bottleneck; ``length_m`` is the walk across the zone; ``share`` is the part of the
    spectators who leave through this exit.
    """

    name: str
    slug: str
    lat: float
    lon: float
    area_m2: float
    capacity: int
    scale: Scale
    width_m: float
    length_m: float
    share: float


ARENA: Final = Square("Strawberry Arena", "arenastaden", 59.3727, 18.0003, 2.0, 6000.0)

SQUARES: Final[tuple[Square, ...]] = (
    Square("Solna centrum", "solna-centrum", 59.3600, 17.9990, 1.6, 2500.0),
    Square("Råsunda torg", "rasunda", 59.3650, 18.0040, 1.2, 1200.0),
    ARENA,
    Square("Hagalunds torg", "hagalund", 59.3610, 18.0150, 1.0, 900.0),
    Square("Huvudsta centrum", "huvudsta", 59.3500, 17.9860, 1.0, 1000.0),
    Square("Frösunda torg", "frosunda", 59.3705, 18.0220, 0.9, 800.0),
)

# The arena's ways out. The exit towards Solna station is a narrow bridge: at a sold-out
# match its approach fills past Fruin's F, as the station's approaches do in real egress.
ARENA_EXITS: Final[tuple[CrowdZone, ...]] = (
    CrowdZone(
        "Arenan norra utgången",
        "arena-norr",
        59.3741,
        18.0004,
        1600.0,
        3200,
        "walkway",
        6.0,
        60.0,
        0.25,
    ),
    CrowdZone(
        "Arenan östra utgången",
        "arena-ost",
        59.3727,
        18.0031,
        2000.0,
        4000,
        "walkway",
        14.0,
        70.0,
        0.30,
    ),
    CrowdZone(
        "Arenan södra utgången mot Solna station",
        "arena-syd",
        59.3713,
        18.0001,
        1200.0,
        2400,
        "walkway",
        5.0,
        50.0,
        0.30,
    ),
    CrowdZone(
        "Arenan västra utgången, spårvagnskön",
        "arena-vast",
        59.3727,
        17.9976,
        900.0,
        2700,
        "queue",
        8.0,
        40.0,
        0.15,
    ),
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


def exit_by_slug(slug: str) -> CrowdZone:
    """The arena exit zone with this slug; KeyError names the known ones."""
    for zone in ARENA_EXITS:
        if zone.slug == slug:
            return zone
    raise KeyError(f"unknown exit zone {slug!r}; known: {', '.join(z.slug for z in ARENA_EXITS)}")


def place_by_slug(slug: str) -> Square:
    """The square (or the arena) with this slug; KeyError names the known ones."""
    for square in SQUARES:
        if square.slug == slug:
            return square
    raise KeyError(f"unknown place {slug!r}; known: {', '.join(s.slug for s in SQUARES)}")
