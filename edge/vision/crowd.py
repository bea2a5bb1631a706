"""Anonymous crowd counting: frame in, contract readings out — nothing else leaves.

The seam for the agent is :meth:`CrowdCounter.observe` ``(frame, now) -> list[Reading]``.
Boxes exist only as locals inside one call; what the counter keeps between frames is a
per-zone running sum and, when ``min_frames > 1``, the last few frames' feet points (two
numbers and a height per person, in memory). Frames are never stored.

Pipeline per frame (:func:`detect_people`): one full-frame pass plus, when tiling is on,
one pass per overlapping tile of the full-resolution frame; boxes cut by an interior tile
border are dropped and the rest merged by NMS (see :mod:`edge.vision.crowd_tiling`).

Frame-rate budget: crowd readings are interval averages (10 s by default), so one analysed
frame every 2 s on a Pi 4 core is enough, which the tiled pipeline (18 tiles + full frame
on 1080p) must fit, as ``python -m bench.crowd`` measures; the 192 px person detector is
cheaper still. Camera health runs on its own cadence.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from edge.vision.crowd_config import CrowdConfig, TilingConfig
from edge.vision.crowd_tiling import drop_cut, merge, plan_tiles
from edge.vision.detector import PersonDetector
from edge.vision.yolox import Detections
from edge.vision.zones import Points, Zone, feet
from trygg.contract import AssetKind, Reading, Value
from trygg.fruin import queue_los, walkway_los

log = logging.getLogger(__name__)


def detect_people(
    detector: PersonDetector, frame: NDArray[np.uint8], tiling: TilingConfig
) -> Detections:
    """People in ``frame`` (full-frame pass plus tiles), boxes in frame pixels.

    Internal to the vision package: callers outside it get counts, never these boxes.
    """
    h, w = frame.shape[:2]
    parts: list[Detections] = []
    tiles = (
        plan_tiles(h, w, tile=tiling.tile_px, overlap=tiling.overlap, max_tiles=tiling.max_tiles)
        if tiling.enabled
        else []
    )
    if tiling.full_frame or not tiles:
        parts.append(detector.detect(frame))
    for tile in tiles:
        found = detector.detect(frame[tile.y0 : tile.y1, tile.x0 : tile.x1])
        parts.append(drop_cut(found, tile, margin=tiling.edge_margin_px).shifted(tile.x0, tile.y0))
    if len(parts) == 1:
        return parts[0]
    return merge(parts, iou_threshold=tiling.merge_iou, ios_threshold=tiling.merge_ios)


def count_people(detector: PersonDetector, frame: NDArray[np.uint8], tiling: TilingConfig) -> int:
    """How many people the deployed pipeline finds in the whole frame."""
    return len(detect_people(detector, frame, tiling))


@dataclass(slots=True)
class _Tally:
    frames: int = 0
    total: int = 0


class CrowdCounter:
    """Per-zone people counts, densities and levels of service, per interval."""

    def __init__(self, *, detector: PersonDetector, config: CrowdConfig) -> None:
        self._detector = detector
        self._config = config
        self._zones: list[Zone] | None = None
        self._tallies: dict[str, _Tally] = {}
        self._interval_start: datetime | None = None
        # the hub's set_crowd_interval may shorten it during an event
        self.interval_s: float = config.interval_s
        self._last_t = 0
        keep = max(0, config.min_frames - 1)
        self._history: collections.deque[tuple[Points, NDArray[np.float64]]] = collections.deque(
            maxlen=keep
        )

    @property
    def configured_interval_s(self) -> float:
        return self._config.interval_s

    def _zones_for(self, h: int, w: int) -> list[Zone]:
        if self._zones is None:
            cfg = self._config
            if cfg.zones:
                self._zones = [
                    Zone.build(
                        id=z.id, polygon=z.polygon, homography=cfg.homography, area_m2=z.area_m2
                    )
                    for z in cfg.zones
                ]
            else:
                whole = [(0.0, 0.0), (float(w), 0.0), (float(w), float(h)), (0.0, float(h))]
                self._zones = [Zone.build(id=cfg.sensor, polygon=whole, homography=None)]
            self._tallies = {z.id: _Tally() for z in self._zones}
        return self._zones

    def _persistent(self, points: Points, heights: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Which current feet were also seen near the same place in each kept frame."""
        ok = np.ones(points.shape[0], dtype=np.bool_)
        if len(self._history) < (self._history.maxlen or 0):
            return ~ok  # not enough frames seen yet
        radius = self._config.match_radius * heights
        for past, _ in self._history:
            if past.shape[0] == 0:
                return np.zeros(points.shape[0], dtype=np.bool_)
            dist = np.linalg.norm(points[:, None, :] - past[None, :, :], axis=2)
            ok &= dist.min(axis=1) <= radius
        return ok

    def observe(self, frame: NDArray[np.uint8], now: datetime) -> list[Reading]:
        """Analyse one BGR frame taken at ``now`` (aware); returns readings when an
        interval closes (else an empty list). The frame is not kept.

        Raises ValueError for a naive ``now`` or a frame that is not ``H x W x 3`` uint8;
        detector errors propagate.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an H x W x 3 uint8 frame, got {frame.shape} {frame.dtype}")
        h, w = frame.shape[:2]
        zones = self._zones_for(h, w)
        dets = detect_people(self._detector, frame, self._config.tiling)
        points = feet(dets.boxes)
        heights = (dets.boxes[:, 3] - dets.boxes[:, 1]).astype(np.float64)
        counted = self._persistent(points, heights) if self._history.maxlen else None
        if self._history.maxlen:
            self._history.append((points, heights))
        for zone in zones:
            inside = zone.contains(points)
            if counted is not None:
                inside &= counted
            tally = self._tallies[zone.id]
            tally.frames += 1
            tally.total += int(np.count_nonzero(inside))
        del dets, points, heights
        if self._interval_start is None:
            self._interval_start = now
        if (now - self._interval_start).total_seconds() < self.interval_s:
            return []
        self._interval_start = now
        return self._flush(now)

    def _flush(self, now: datetime) -> list[Reading]:
        t = max(int(now.astimezone(UTC).timestamp() * 1000), self._last_t + 1)
        self._last_t = t
        cfg = self._config
        out: list[Reading] = []
        for zone in self._zones or []:
            tally = self._tallies[zone.id]
            mean = tally.total / tally.frames if tally.frames else 0.0
            self._tallies[zone.id] = _Tally()
            fields: list[tuple[str, Value, bool]] = []
            if zone.area_m2 is None:
                fields.append(("peopleCount", round(mean), False))
            else:
                density = mean / zone.area_m2
                limited = density > cfg.occlusion_density
                fields += [
                    ("peopleCount", round(mean), limited),
                    ("peopleDensity", round(density, 3), limited),
                    ("levelOfService", walkway_los(density), False),
                    ("levelOfServiceQueue", queue_los(density), False),
                    ("occlusionLimited", limited, False),
                    ("congested", density >= cfg.congested_density, False),
                ]
            out += [
                Reading(
                    asset=zone.id,
                    kind=AssetKind.CROWD,
                    sensor=cfg.sensor,
                    field=name,
                    t=t,
                    v=value,
                    q="uncertain" if lower_bound else "good",
                )
                for name, value, lower_bound in fields
            ]
        return out
