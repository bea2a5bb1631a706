"""What the rules know about the fleet: assets (position, cabinet, device, per-asset
thresholds) and each cabinet's lamps, and where a ticket for an
asset, a cabinet or a device is (its position and address).

Filled from the ``assets`` table at start and from births as they arrive; thresholds are
parsed once per birth (refused ones are logged and the defaults kept).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from hub.db import Asset
from hub.rules.alarms import Place
from hub.rules.bin import BinParams
from hub.rules.camera import CameraParams
from hub.rules.crowd import CrowdParams, crowd_params
from hub.rules.lamp import LampParams
from hub.rules.params import from_properties
from trygg import contract as c

log = logging.getLogger(__name__)
MAX_HOLD_S = 86_400.0


@dataclass
class AssetInfo:
    id: str
    kind: str
    device: str
    lat: float
    lon: float
    cabinet: str | None
    address: str | None
    properties: dict[str, Any]
    lamp: LampParams = field(default_factory=LampParams)
    bin: BinParams = field(default_factory=BinParams)
    camera: CameraParams = field(default_factory=CameraParams)
    crowd: CrowdParams = field(default_factory=CrowdParams)
    hold_s: float = 600.0


class Fleet:
    def __init__(self, *, resolve_hold_s: float) -> None:
        self.resolve_hold_s = resolve_hold_s
        self.assets: dict[str, AssetInfo] = {}
        self.cabinet_lamps: dict[str, set[str]] = defaultdict(set)

    def remember(
        self,
        *,
        asset_id: str,
        kind: str,
        device: str,
        lat: float,
        lon: float,
        cabinet: str | None,
        address: str | None,
        properties: dict[str, Any],
    ) -> AssetInfo:
        """Add or replace an asset, with its thresholds parsed from ``properties``."""
        old = self.assets.get(asset_id)
        if old is not None and old.cabinet:
            self.cabinet_lamps[old.cabinet].discard(asset_id)
        info = AssetInfo(asset_id, kind, device, lat, lon, cabinet, address, properties)
        errors: list[str] = []
        if kind == c.AssetKind.STREETLIGHT:
            info.lamp, errors = from_properties(LampParams, properties)
            if cabinet:
                self.cabinet_lamps[cabinet].add(asset_id)
        elif kind == c.AssetKind.BIN:
            info.bin, errors = from_properties(BinParams, properties)
        elif kind == c.AssetKind.CAMERA:
            info.camera, errors = from_properties(CameraParams, properties)
        elif kind == c.AssetKind.CROWD:
            info.crowd, errors = crowd_params(properties)
        hold = properties.get("resolveHoldS")
        ok = isinstance(hold, int | float) and not isinstance(hold, bool)
        if ok and 0 <= float(hold) <= MAX_HOLD_S:  # type: ignore[arg-type]
            info.hold_s = float(hold)  # type: ignore[arg-type]
        else:
            info.hold_s = self.resolve_hold_s
            if hold is not None:
                errors.append(f"resolveHoldS: {hold!r} outside [0, {MAX_HOLD_S:g}]")
        for error in errors:
            log.warning("asset %s: threshold refused, default kept: %s", asset_id, error)
        self.assets[asset_id] = info
        return info

    def from_row(self, row: Asset) -> AssetInfo:
        return self.remember(
            asset_id=row.id,
            kind=row.kind,
            device=row.device_id,
            lat=row.lat,
            lon=row.lon,
            cabinet=row.cabinet,
            address=row.address,
            properties=dict(row.properties or {}),
        )

    def from_birth(self, birth: c.Birth) -> None:
        for a in birth.assets:
            self.remember(
                asset_id=a.id,
                kind=a.kind.value,
                device=birth.device,
                lat=a.lat,
                lon=a.lon,
                cabinet=a.cabinet,
                address=a.address,
                properties=dict(a.properties),
            )

    def known(self, s: Session, asset_id: str) -> AssetInfo | None:
        """The asset, from memory or else from the database; None if nobody announced it."""
        info = self.assets.get(asset_id)
        if info is None:
            row = s.get(Asset, asset_id)
            info = self.from_row(row) if row is not None else None
        return info

    def place(self, ident: str) -> Place | None:
        """Where a ticket about an asset, a cabinet (its lamps' centre) or a device is."""
        info = self.assets.get(ident)
        if info is not None:
            return Place(info.lat, info.lon, info.address, info.device)
        group = [self.assets[a] for a in self.cabinet_lamps.get(ident, ()) if a in self.assets]
        if not group:
            group = [a for a in self.assets.values() if a.device == ident]
        if not group:
            return None
        group.sort(key=lambda a: a.id)
        lat = sum(a.lat for a in group) / len(group)
        lon = sum(a.lon for a in group) / len(group)
        devices = {a.device for a in group}
        return Place(lat, lon, group[0].address, group[0].device if len(devices) == 1 else None)

    def hold(self, ident: str) -> timedelta:
        """How long a cleared alarm's ticket waits before it resolves."""
        info = self.assets.get(ident)
        return timedelta(seconds=info.hold_s if info else self.resolve_hold_s)

    def device_of(self, ident: str) -> str | None:
        """The device behind an asset or a cabinet (if all its lamps hang on one)."""
        info = self.assets.get(ident)
        if info is not None:
            return info.device
        devices = {
            self.assets[a].device for a in self.cabinet_lamps.get(ident, ()) if a in self.assets
        }
        return next(iter(devices)) if len(devices) == 1 else None
