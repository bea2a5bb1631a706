"""New graffiti on configured walls: persistent change against a clean reference.

Each wall quadrilateral is rectified through its calibration homography onto a grid of
``pixels_per_metre``, so a changed pixel is a known number of square metres whatever the
perspective. Illumination is normalised before comparing (a global gain on lightness
and an offset on colour, both estimated by medians so the graffiti itself cannot skew
them). A look at the wall is skipped when it changed since the previous look (someone
walking past) or when the detector reports a person or vehicle on it, and only change that
stays put for the ``persist`` duration counts. Only the area in m² leaves this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import cv2
import numpy as np
import numpy.typing as npt

from edge.vision.health_config import Duration, GraffitiConfig, WallConfig
from edge.vision.health_state import Debouncer

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in normalised frame coordinates
_LabImage = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class WallResult:
    wall: str
    area_m2: float | None  # None while the reference is being learned or the look skipped
    skipped: str | None = None  # why this look did not count: occluded | learning | ...
    event: bool | None = None  # True = graffiti set, False = cleared, None = no change


class _Wall:
    def __init__(self, wall: WallConfig, cfg: GraffitiConfig, frame_size: tuple[int, int]):
        self.config = wall
        self._cfg = cfg
        w, h = frame_size
        self.size = (
            max(8, round(wall.width_m * cfg.pixels_per_metre)),
            max(8, round(wall.height_m * cfg.pixels_per_metre)),
        )
        src = np.array([(x * w, y * h) for x, y in wall.corners], dtype=np.float32)
        rw, rh = self.size
        dst = np.array([(0, 0), (rw, 0), (rw, rh), (0, rh)], dtype=np.float32)
        self._homography = cv2.getPerspectiveTransform(src, dst)
        self.quad = src
        self._learning: list[_LabImage] = []
        self._learn_start: datetime | None = None
        self.reference: _LabImage | None = None
        self._previous: _LabImage | None = None
        self._age = np.zeros((rh, rw), dtype=np.int32)
        self._since = np.zeros((rh, rw), dtype=np.float64)  # epoch seconds change began
        self.alarm = Debouncer(
            set_after=Duration(frames=1, seconds=0), clear_after=cfg.clear, latched=False
        )

    def rectify(self, frame: npt.NDArray[np.uint8]) -> _LabImage:
        flat = cv2.warpPerspective(frame, self._homography, self.size, flags=cv2.INTER_LINEAR)
        return np.asarray(cv2.cvtColor(flat, cv2.COLOR_BGR2Lab), dtype=np.float32)

    def learn(self, lab: _LabImage, now: datetime) -> bool:
        """Add a clean look; True once the reference (per-pixel median) is ready."""
        if self._learn_start is None:
            self._learn_start = now
        self._learning.append(lab)
        ref = self._cfg.reference
        if len(self._learning) >= ref.frames and (now - self._learn_start).total_seconds() >= (
            ref.seconds
        ):
            # The median over several looks removes anyone who walked past while learning.
            self.reference = np.median(np.stack(self._learning), axis=0).astype(np.float32)
            self._learning.clear()
            self._learn_start = None
            return True
        return False

    def moved(self, lab: _LabImage) -> bool:
        previous, self._previous = self._previous, lab
        if previous is None:
            return True
        moving = np.abs(lab[..., 0] - previous[..., 0]) > self._cfg.diff_level
        return bool(float(np.count_nonzero(moving)) / moving.size > self._cfg.motion_fraction)

    def change_mask(self, lab: _LabImage) -> npt.NDArray[np.bool_]:
        ref = self.reference
        assert ref is not None
        light, light_ref = lab[..., 0], ref[..., 0]
        gain = float(np.median(light_ref)) / max(1.0, float(np.median(light)))
        d_light = np.abs(light * gain - light_ref)
        d_a = lab[..., 1] - ref[..., 1]
        d_b = lab[..., 2] - ref[..., 2]
        d_a -= float(np.median(d_a))
        d_b -= float(np.median(d_b))
        changed = (d_light > self._cfg.diff_level) | (np.hypot(d_a, d_b) > self._cfg.chroma_level)
        kernel = np.ones((3, 3), np.uint8)
        opened = cv2.morphologyEx(changed.astype(np.uint8), cv2.MORPH_OPEN, kernel)
        return np.asarray(opened, dtype=bool)

    def persistent_area(self, mask: npt.NDArray[np.bool_], now: datetime) -> float:
        t = now.timestamp()
        self._since = np.where(mask & (self._age == 0), t, self._since)
        self._age = np.where(mask, self._age + 1, 0)
        persist = self._cfg.persist
        stable = (self._age >= persist.frames) & (t - self._since >= persist.seconds)
        return float(np.count_nonzero(stable)) / self._cfg.pixels_per_metre**2

    def occluded_by(self, boxes: Sequence[Box], frame_size: tuple[int, int]) -> bool:
        w, h = frame_size
        x0, y0 = self.quad.min(axis=0)
        x1, y1 = self.quad.max(axis=0)
        return any(
            bx0 * w < x1 and bx1 * w > x0 and by0 * h < y1 and by1 * h > y0
            for bx0, by0, bx1, by1 in boxes
        )


class GraffitiDetector:
    """All walls of one camera. Feed frames on the graffiti schedule, daytime only."""

    def __init__(self, *, config: GraffitiConfig) -> None:
        self._config = config
        self._walls: list[_Wall] | None = None
        self._frame_size: tuple[int, int] | None = None

    @property
    def active(self) -> dict[str, bool]:
        return {w.config.name: w.alarm.active for w in self._walls or []}

    def observe(
        self,
        frame: npt.NDArray[np.uint8],
        *,
        now: datetime,
        occluders: Sequence[Box] = (),
    ) -> list[WallResult]:
        """Look at every wall once; returns per-wall area and any event change."""
        h, w = frame.shape[:2]
        if self._walls is None or self._frame_size != (w, h):
            self._frame_size = (w, h)
            self._walls = [_Wall(wall, self._config, (w, h)) for wall in self._config.walls]
        if frame.ndim == 2:
            frame = np.asarray(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
        results = []
        for wall in self._walls:
            name = wall.config.name
            if wall.occluded_by(occluders, (w, h)):
                results.append(WallResult(name, None, "occluded"))
                continue
            lab = wall.rectify(frame)
            if wall.moved(lab):
                results.append(WallResult(name, None, "moving"))
                continue
            if wall.reference is None:
                wall.learn(lab, now)
                results.append(WallResult(name, None, "learning"))
                continue
            area = wall.persistent_area(wall.change_mask(lab), now)
            event = wall.alarm.update(area >= max(self._config.min_area_m2, 1e-9), now)
            results.append(WallResult(name, area, None, event))
        return results

    def relearn(self) -> None:
        """Take a new clean reference (after the wall was cleaned or accepted as it is)."""
        self._walls = None
