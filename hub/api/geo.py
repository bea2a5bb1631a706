"""Positions for the ticket list: bounding boxes, points and great-circle distance.

Pure (no I/O imports): parsing refuses bad input with a ValueError that says what is wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class BBox:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    @classmethod
    def parse(cls, text: str) -> BBox:
        """``minLon,minLat,maxLon,maxLat`` (GeoJSON order); ValueError says what is wrong."""
        parts = text.split(",")
        if len(parts) != 4:
            raise ValueError("bbox needs four numbers: minLon,minLat,maxLon,maxLat")
        try:
            a, b, c, d = (float(p) for p in parts)
        except ValueError:
            raise ValueError("bbox values must be numbers") from None
        if not all(math.isfinite(v) for v in (a, b, c, d)):
            raise ValueError("bbox values must be finite")
        if not (-180 <= a <= c <= 180 and -90 <= b <= d <= 90):
            raise ValueError("bbox must satisfy -180<=minLon<=maxLon<=180, -90<=minLat<=maxLat<=90")
        return cls(a, b, c, d)

    def contains(self, lat: float, lon: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon

    def refusal(self, lat: float, lon: float) -> str | None:
        """Why a report at ``lat,lon`` is not taken (outside the city), None if it is inside."""
        if self.contains(lat, lon):
            return None
        return (
            f"position {lat:.5f},{lon:.5f} is outside the city's area "
            f"(lat {self.min_lat}..{self.max_lat}, lon {self.min_lon}..{self.max_lon})"
        )


@dataclass(frozen=True, slots=True)
class Point:
    lat: float
    lon: float

    @classmethod
    def parse(cls, text: str) -> Point:
        """``lat,lon``; ValueError says what is wrong."""
        parts = text.split(",")
        if len(parts) != 2:
            raise ValueError("near needs two numbers: lat,lon")
        try:
            lat, lon = (float(p) for p in parts)
        except ValueError:
            raise ValueError("near values must be numbers") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError("near must be a valid lat,lon")
        return cls(lat, lon)


def distance_m(a: Point, lat: float | None, lon: float | None) -> float | None:
    """Great-circle distance in metres (haversine), None for tickets without a position."""
    if lat is None or lon is None:
        return None
    p1, p2 = math.radians(a.lat), math.radians(lat)
    dp, dl = p2 - p1, math.radians(lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(h)))
