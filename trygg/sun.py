"""Sun elevation at a place and time (astral), cached per place and minute.

The rules evaluate it for every lamp reading, so the cache keeps that cost to a dict lookup;
one minute moves the sun by at most a quarter of a degree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from astral import Observer
from astral.sun import elevation as _astral_elevation

CIVIL_TWILIGHT_DEG = -6.0


@lru_cache(maxsize=65_536)
def _elevation_at(lat: float, lon: float, minute: int) -> float:
    when = datetime.fromtimestamp(minute * 60, tz=UTC)
    return float(_astral_elevation(Observer(latitude=lat, longitude=lon), when))


def sun_elevation(lat: float, lon: float, when: datetime) -> float:
    """Degrees above the horizon at (lat, lon) at ``when`` (aware), to the minute."""
    if when.tzinfo is None:
        raise ValueError("naive datetime: give an aware UTC time")
    return _elevation_at(round(lat, 3), round(lon, 3), int(when.timestamp()) // 60)


def is_dark(
    lat: float, lon: float, when: datetime, threshold_deg: float = CIVIL_TWILIGHT_DEG
) -> bool:
    """True when the sun is below ``threshold_deg`` (civil twilight by default)."""
    return sun_elevation(lat, lon, when) < threshold_deg
