"""A simulated waste bin: ultrasonic fill, temperature and tilt, driven by the world model.

Faults (names as in edge/drivers/base.py's SimFaults): ``full`` (a round missed it and it
overflows until a crew empties it, which the clear of the fault means), ``fire`` (the
temperature climbs ~3 degrees C a minute), ``dropped`` (knocked over), ``sensor_dead``
(the ultrasonic sensor stops answering).
"""

from __future__ import annotations

from datetime import datetime

from edge.drivers.base import DriverError, Sample, SimFaults
from sim.places import SQUARES
from sim.world import World, ambient_temperature, gauss, stable_key
from trygg.contract import AssetKind

D_FULL_M = 0.1  # the sensor sits 10 cm above the brim


class SimBin:
    kind = AssetKind.BIN

    def __init__(
        self,
        *,
        asset: str,
        place: str,
        volume_m3: float,
        depth_m: float,
        world: World,
        faults: SimFaults,
        interval_s: float = 300.0,
        sensor: str = "bin",
    ) -> None:
        self.asset, self.sensor, self.interval_s = asset, sensor, interval_s
        self._place = place
        self._busy = next((s.busy for s in SQUARES if s.slug == place), 1.0)
        self._volume, self._depth = volume_m3, depth_m
        self._world, self._faults = world, faults
        self._key = stable_key(world.seed, asset)
        self._emptied_at: datetime | None = None
        self._fire_since: datetime | None = None
        self._was_full = False

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def read(self, now: datetime) -> Sample:
        f = self._faults
        if f.has(self.asset, "sensor_dead"):
            raise DriverError(f"{self.asset}: ultrasonic sensor does not answer")
        full = f.has(self.asset, "full")
        if self._was_full and not full:
            self._emptied_at = now  # the crew that cleared the fault emptied the bin
        self._was_full = full
        t_ms = int(now.timestamp() * 1000)
        fill = self._world.fill(
            place=self._place,
            busy=self._busy,
            volume_m3=self._volume,
            key=self._key,
            when=now,
            emptied_at=self._emptied_at,
        )
        if full:
            fill = max(fill, 0.97 + 0.03 * abs(gauss(self._key, t_ms, 11)) / 3)
        fill = min(1.0, max(0.0, fill))
        distance = D_FULL_M + (1.0 - fill) * (self._depth - D_FULL_M)
        distance += 0.01 * gauss(self._key, t_ms, 12)
        temperature = ambient_temperature(now, self._key) + 1.5
        if f.has(self.asset, "fire"):
            if self._fire_since is None:
                self._fire_since = now
            minutes = (now - self._fire_since).total_seconds() / 60
            temperature += min(230.0, 20.0 + 3.0 * minutes)
        else:
            self._fire_since = None
        dropped = f.has(self.asset, "dropped")
        tilt = 85.0 + 3 * gauss(self._key, t_ms, 13) if dropped else abs(gauss(self._key, t_ms, 14))
        return Sample(
            {
                "fillingLevel": round(fill, 3),
                "distance": round(max(0.0, distance), 3),
                "temperature": round(temperature, 2),
                "tilted": dropped,
                "tiltAngle": round(tilt, 1),
            }
        )
