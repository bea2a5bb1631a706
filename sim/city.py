"""A plausible Solna, laid out from a seed: poles along streets and around squares.

Pure: the same ``(devices, seed)`` always gives the same city, to the last coordinate, so a
scenario can name assets and two runs can be compared. Of every ten devices, six are lamp
poles (two luminaires each) along the streets, grouped five poles to a control cabinet;
two are bin poles (two bins each) around the squares; two are camera poles at the squares
and the arena, each with a camera (watching a wall for graffiti) and a crowd zone. The
arena's first camera poles watch the approach zones of its exits instead (two each, see
``ARENA_EXITS``); a crowd zone's properties carry its name, area, capacity and Fruin scale,
which the pole's birth hands to the hub like every other asset attribute.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final, Literal

from sim.places import ARENA, ARENA_EXITS, SQUARES, STREETS, CrowdZone, Square, Street, inside
from trygg.contract import AssetKind

Role = Literal["lamp_pole", "bin_pole", "camera_pole"]
PATTERN: Final[tuple[Role, ...]] = (
    "lamp_pole",
    "bin_pole",
    "lamp_pole",
    "camera_pole",
    "lamp_pole",
    "lamp_pole",
    "bin_pole",
    "lamp_pole",
    "camera_pole",
    "lamp_pole",
)
POLES_PER_CABINET: Final = 5
POLE_SPACING_M: Final = 35.0
M_PER_DEG_LAT: Final = 111_320.0


@dataclass(frozen=True, slots=True)
class SimAsset:
    id: str
    kind: AssetKind
    lat: float
    lon: float
    cabinet: str | None
    address: str
    place: str  # slug of the nearest square, or of the street
    properties: dict[str, float | int | bool | str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SimDevice:
    id: str
    role: Role
    site: str
    assets: tuple[SimAsset, ...]


@dataclass(frozen=True, slots=True)
class City:
    seed: int
    devices: tuple[SimDevice, ...]

    def assets(self) -> Iterator[tuple[SimDevice, SimAsset]]:
        for device in self.devices:
            for asset in device.assets:
                yield device, asset

    def cabinets(self) -> dict[str, list[str]]:
        """Cabinet id -> the lamp asset ids it feeds, in city order."""
        out: dict[str, list[str]] = {}
        for _device, asset in self.assets():
            if asset.cabinet is not None:
                out.setdefault(asset.cabinet, []).append(asset.id)
        return out

    def device_of(self) -> dict[str, str]:
        """Asset id -> device id."""
        return {a.id: d.id for d, a in self.assets()}


def _metres_to_deg(lat: float, north_m: float, east_m: float) -> tuple[float, float]:
    return (
        north_m / M_PER_DEG_LAT,
        east_m / (M_PER_DEG_LAT * math.cos(math.radians(lat))),
    )


def _along(street: Street, distance_m: float) -> tuple[float, float, float]:
    """Point ``distance_m`` along the street (wrapping), and the segment's bearing (rad)."""
    segments = []
    for (la1, lo1), (la2, lo2) in zip(street.points, street.points[1:], strict=False):
        north = (la2 - la1) * M_PER_DEG_LAT
        east = (lo2 - lo1) * M_PER_DEG_LAT * math.cos(math.radians(la1))
        segments.append((la1, lo1, north, east, math.hypot(north, east)))
    total = sum(s[4] for s in segments)
    d = distance_m % total
    for la1, lo1, north, east, length in segments:
        if d <= length:
            f = d / length
            dlat, dlon = _metres_to_deg(la1, north * f, east * f)
            return la1 + dlat, lo1 + dlon, math.atan2(north, east)
        d -= length
    last = segments[-1]
    return last[0], last[1], 0.0


def _near(square: Square, rng: random.Random, radius_m: float) -> tuple[float, float]:
    angle = rng.uniform(0, 2 * math.pi)
    r = radius_m * math.sqrt(rng.uniform(0.05, 1.0))
    dlat, dlon = _metres_to_deg(square.lat, r * math.sin(angle), r * math.cos(angle))
    return square.lat + dlat, square.lon + dlon


def _nearest_square(lat: float, lon: float) -> Square:
    return min(SQUARES, key=lambda s: (s.lat - lat) ** 2 + ((s.lon - lon) * 0.5) ** 2)


def _clamp(lat: float, lon: float) -> tuple[float, float]:
    """Keep jittered points inside the city's extent (the squares sit well inside it)."""
    lat = min(max(lat, 59.3502), 59.3798)
    lon = min(max(lon, 17.9702), 18.0498)
    assert inside(lat, lon)
    return round(lat, 6), round(lon, 6)


ZONES_PER_ARENA_POLE: Final = 2
# A square's watched zone holds at most two persons/m² (Still's "packed" bound).
PLANNED_DENSITY: Final = 2.0


def _crowd_zones(dev_id: str, square: Square, k: int, lat: float, lon: float) -> list[SimAsset]:
    """The crowd zones the ``k``-th camera pole (from 0) at ``square`` watches."""
    exits: tuple[CrowdZone, ...] = ()
    if square.slug == ARENA.slug:
        exits = ARENA_EXITS[k * ZONES_PER_ARENA_POLE : (k + 1) * ZONES_PER_ARENA_POLE]
    if not exits:
        return [
            SimAsset(
                id=f"{dev_id}-crowd0",
                kind=AssetKind.CROWD,
                lat=lat,
                lon=lon,
                cabinet=None,
                address=f"{square.name}, zon {k + 1}",
                place=square.slug,
                properties={
                    "zoneName": f"{square.name}, zon {k + 1}",
                    "zoneArea": square.area_m2,
                    "capacity": round(square.area_m2 * PLANNED_DENSITY),
                    "scale": "walkway",
                },
            )
        ]
    return [
        SimAsset(
            id=f"{dev_id}-crowd{n}",
            kind=AssetKind.CROWD,
            lat=_clamp(zone.lat, zone.lon)[0],
            lon=_clamp(zone.lat, zone.lon)[1],
            cabinet=None,
            address=zone.name,
            place=square.slug,
            properties={
                "zoneName": zone.name,
                "zoneArea": zone.area_m2,
                "capacity": zone.capacity,
                "scale": zone.scale,
                "exitZone": zone.slug,
                "exitWidth": zone.width_m,
            },
        )
        for n, zone in enumerate(exits)
    ]


def build_city(devices: int, *, seed: int) -> City:
    """Lay out ``devices`` poles. Raises ValueError for a non-positive count."""
    if devices < 1:
        raise ValueError("a city needs at least one device")
    rng = random.Random(seed)
    street_poles = dict.fromkeys((s.slug for s in STREETS), 0)
    square_counts = dict.fromkeys((s.slug for s in SQUARES), 0)
    camera_counts = dict.fromkeys((s.slug for s in SQUARES), 0)
    lamp_poles = 0
    out: list[SimDevice] = []
    for i in range(devices):
        role = PATTERN[i % len(PATTERN)]
        dev_id = f"pole-{i:05d}"
        if role == "lamp_pole":
            street = STREETS[lamp_poles % len(STREETS)]
            lamp_poles += 1
            n = street_poles[street.slug]
            street_poles[street.slug] += 1
            lat, lon, bearing = _along(street, n * POLE_SPACING_M + rng.uniform(-3, 3))
            cabinet = f"cab-{street.slug}-{n // POLES_PER_CABINET:03d}"
            square = _nearest_square(lat, lon)
            assets = []
            for arm in range(2):
                # the two arms reach 3 m out on either side of the pole, across the street
                side = 3.0 if arm else -3.0
                dlat, dlon = _metres_to_deg(
                    lat, side * math.cos(bearing), -side * math.sin(bearing)
                )
                alat, alon = _clamp(lat + dlat, lon + dlon)
                assets.append(
                    SimAsset(
                        id=f"{dev_id}-lamp{arm}",
                        kind=AssetKind.STREETLIGHT,
                        lat=alat,
                        lon=alon,
                        cabinet=cabinet,
                        address=f"{street.name} {2 * n + 1 + arm}, Solna",
                        place=street.slug,
                        properties={"ratedPower": 0.06 if arm else 0.04},
                    )
                )
            out.append(SimDevice(dev_id, role, square.slug, tuple(assets)))
            continue
        # bin and camera poles go round the squares, the busiest (the arena) first
        order = sorted(SQUARES, key=lambda s: -s.busy)
        square = order[(i // len(PATTERN)) % len(order)]
        k = square_counts[square.slug]
        square_counts[square.slug] += 1
        lat, lon = _clamp(*_near(square, rng, 60.0))
        if role == "bin_pole":
            assets = [
                SimAsset(
                    id=f"{dev_id}-bin{b}",
                    kind=AssetKind.BIN,
                    lat=_clamp(lat + b * 2e-5, lon)[0],
                    lon=lon,
                    cabinet=None,
                    address=f"{square.name}, papperskorg {2 * k + b + 1}",
                    place=square.slug,
                    properties={
                        "fullnessThreshold": 0.9 if b == 0 else 0.85,
                        "depth": 1.0,
                        "volume": 0.2 if b == 0 else 0.4,
                    },
                )
                for b in range(2)
            ]
        else:
            assets = [
                SimAsset(
                    id=f"{dev_id}-cam0",
                    kind=AssetKind.CAMERA,
                    lat=lat,
                    lon=lon,
                    cabinet=None,
                    address=f"{square.name}, kamera {k + 1}",
                    place=square.slug,
                    properties={"wall": f"{square.slug}-wall{k}", "wallArea": 24.0},
                ),
            ]
            assets += _crowd_zones(dev_id, square, camera_counts[square.slug], lat, lon)
            camera_counts[square.slug] += 1
        out.append(SimDevice(dev_id, role, square.slug, tuple(assets)))
    return City(seed=seed, devices=tuple(out))
