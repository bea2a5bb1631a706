"""The device's own retained messages (birth, state), encoded from its config. Pure."""

from __future__ import annotations

from datetime import datetime

from edge.config import DeviceConfig
from trygg import contract as c
from trygg.clock import to_ms


def birth(
    config: DeviceConfig, *, boot: int, now: datetime, low: int, release: str | None = None
) -> bytes:
    """Who the device is, its assets, ``low``: the lowest seq its outbox still holds, and
    the signed release it runs (None for an agent installed by hand)."""
    assets = [
        c.AssetInfo(
            id=a.id,
            kind=a.kind,
            lat=a.lat,
            lon=a.lon,
            cabinet=a.cabinet,
            address=a.address,
            properties=a.properties,
        )
        for a in config.assets
    ]
    return c.encode(
        c.Birth(
            device=config.id,
            boot=boot,
            ts=to_ms(now),
            firmware=config.firmware,
            release=release,
            site=config.site,
            device_class=config.device_class,
            heartbeat_s=config.heartbeat_s,
            low=low,
            assets=assets,
        )
    )


def state(config: DeviceConfig, *, boot: int, now: datetime, online: bool) -> bytes:
    """Online/offline with the boot it belongs to, so a stale death is recognisable."""
    return c.encode(c.State(device=config.id, boot=max(boot, 1), online=online, ts=to_ms(now)))
