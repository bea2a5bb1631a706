"""Contract messages for rule scenarios: a pole with lamps on one cabinet, a bin, a camera.

Used by the engine tests (fed directly), the end-to-end and restart tests (published over
real MQTT) and the benchmark, so they all run the very same faults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from trygg import contract as c
from trygg.clock import to_ms

SITE = "solna-centrum"


@dataclass
class Pole:
    """One device and its assets; ``seq`` increases like a real outbox's."""

    device: str
    lamps: int = 4
    boot: int = 1
    seq: int = 0
    properties: dict[str, dict[str, c.Value]] = field(default_factory=dict)
    heartbeat_s: float = 60.0
    zone_area_m2: float | None = None  # with an area, the pole also watches a crowd zone

    def lamp(self, i: int) -> str:
        return f"{self.device}-lamp{i}"

    @property
    def cabinet(self) -> str:
        return f"{self.device}-cab"

    @property
    def bin(self) -> str:
        return f"{self.device}-bin"

    @property
    def camera(self) -> str:
        return f"{self.device}-cam"

    @property
    def crowd(self) -> str:
        return f"{self.device}-crowd0"

    def birth(self, now: datetime) -> c.Birth:
        assets = [
            c.AssetInfo(
                id=self.lamp(i),
                kind=c.AssetKind.STREETLIGHT,
                lat=59.36 + i * 1e-4,
                lon=18.0,
                cabinet=self.cabinet,
                address=f"Solnavägen {i + 1}",
                properties=self.properties.get(self.lamp(i), {}),
            )
            for i in range(self.lamps)
        ]
        assets.append(
            c.AssetInfo(
                id=self.bin,
                kind=c.AssetKind.BIN,
                lat=59.3605,
                lon=18.001,
                address="Solna torg 1",
                properties=self.properties.get(self.bin, {}),
            )
        )
        assets.append(
            c.AssetInfo(
                id=self.camera,
                kind=c.AssetKind.CAMERA,
                lat=59.3606,
                lon=18.002,
                address="Solna torg 2",
                properties=self.properties.get(self.camera, {}),
            )
        )
        if self.zone_area_m2 is not None:
            assets.append(
                c.AssetInfo(
                    id=self.crowd,
                    kind=c.AssetKind.CROWD,
                    lat=59.3727,
                    lon=18.0006,
                    address="Arenans entré",
                    properties={
                        "zoneArea": self.zone_area_m2,
                        **self.properties.get(self.crowd, {}),
                    },
                )
            )
        return c.Birth(
            device=self.device,
            boot=self.boot,
            ts=to_ms(now),
            firmware="test",
            site=SITE,
            heartbeat_s=self.heartbeat_s,
            low=self.seq + 1,
            assets=assets,
        )

    def state(self, now: datetime, *, online: bool) -> c.State:
        return c.State(device=self.device, boot=self.boot, online=online, ts=to_ms(now))

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def lamps_data(self, now: datetime, on: list[bool]) -> c.Data:
        t = to_ms(now)
        readings = []
        for i, lit in enumerate(on):
            for fld, value in (
                ("powerState", "on" if lit else "off"),
                ("intensity", 0.26 if lit else 0.0),
                ("activePower", 0.06 if lit else 0.0),
            ):
                readings.append(
                    c.Reading(
                        asset=self.lamp(i),
                        kind=c.AssetKind.STREETLIGHT,
                        sensor="lamp",
                        field=fld,
                        t=t,
                        v=value,
                    )
                )
        return c.Data(
            device=self.device, site=SITE, boot=self.boot, seq=self._next(), readings=readings
        )

    def bin_data(self, now: datetime, *, level: float, temperature: float = 8.0) -> c.Data:
        t = to_ms(now)
        readings = [
            c.Reading(
                asset=self.bin,
                kind=c.AssetKind.BIN,
                sensor="level",
                field="fillingLevel",
                t=t,
                v=level,
            ),
            c.Reading(
                asset=self.bin,
                kind=c.AssetKind.BIN,
                sensor="temp",
                field="temperature",
                t=t,
                v=temperature,
            ),
        ]
        return c.Data(
            device=self.device, site=SITE, boot=self.boot, seq=self._next(), readings=readings
        )

    def crowd_data(self, now: datetime, *, density: float) -> c.Data:
        """The edge's crowd figures for a zone at ``density`` persons/m²."""
        area = self.zone_area_m2 or 1.0
        t = to_ms(now)
        fields: tuple[tuple[str, c.Value], ...] = (
            ("peopleCount", round(density * area)),
            ("peopleDensity", density),
        )
        readings = [
            c.Reading(asset=self.crowd, kind=c.AssetKind.CROWD, sensor="crowd", field=f, t=t, v=v)
            for f, v in fields
        ]
        return c.Data(
            device=self.device, site=SITE, boot=self.boot, seq=self._next(), readings=readings
        )

    def event(
        self,
        now: datetime,
        asset: str,
        kind: c.AssetKind,
        event_type: str,
        *,
        active: bool,
        values: dict[str, float] | None = None,
    ) -> c.Events:
        item = c.EventItem(
            asset=asset,
            kind=kind,
            type=event_type,
            t=to_ms(now),
            active=active,
            values=values or {},
        )
        return c.Events(
            device=self.device, site=SITE, boot=self.boot, seq=self._next(), events=[item]
        )
