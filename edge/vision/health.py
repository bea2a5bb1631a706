"""Camera health of one camera: frames in, contract readings and events out.

This is the seam the edge agent calls from its vision thread (OpenCV is blocking):
``observe(frame, now=..., meta=...)`` per analysed frame, ``acknowledge(type, now=...)``
when the hub sends ``ack_tamper``. The fleet simulator calls ``observe_scores`` with
precomputed :class:`~edge.vision.health_state.HealthScores` and gets the very same
events, because both paths end in the same pure state machine. Frames are only read and
dropped; only numbers are returned.

Schedule (defaults; see :class:`~edge.vision.health_config.ScheduleConfig`): grey
conversion and the frozen check every frame at full resolution; exposure histogram and
structure (Laplacian, Canny, grid contrast) every frame at ``analysis_width``; ORB
displacement every 25th frame; graffiti every 10th frame.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from edge.vision import health_baseline as hb
from edge.vision import health_metrics as hm
from edge.vision.graffiti import Box, GraffitiDetector
from edge.vision.health_config import EVENT_GRAFFITI, CameraHealthConfig
from edge.vision.health_displacement import ReferenceView
from edge.vision.health_state import (
    HealthScores,
    HealthStateMachine,
    Profile,
    Transition,
    profile_at,
)
from edge.vision.health_types import Exposure, GreyImage, Structure
from edge.vision.sources import FrameMeta
from trygg.clock import to_ms
from trygg.contract import AssetKind, EventItem, Reading

log = logging.getLogger(__name__)

SENSOR = "health"
_SEVERITY = {
    "cameraCovered": "major",
    "cameraDisplaced": "major",
    "cameraFrozen": "major",
    "cameraBlurred": "minor",
    "cameraDark": "minor",
    "cameraOverexposed": "minor",
    EVENT_GRAFFITI: "warning",
}
_PROFILE_RECHECK_S = 60.0


@dataclass
class _ProfileState:
    """Baseline, reference view and adaptation clock of one lighting profile."""

    learner: hb.BaselineLearner
    reference: ReferenceView | None = None
    baseline: hb.BaselineStats | None = None
    adapted_at: datetime | None = None
    light: float = 1.0  # last mean luma over the baseline's


class CameraHealthMonitor:
    """Stateful health checks for one camera; not thread-safe (one vision thread owns it)."""

    def __init__(self, *, config: CameraHealthConfig) -> None:
        self.config = config
        self._state = HealthStateMachine(config=config)
        self._profiles: dict[Profile, _ProfileState] = {}
        self._profile: Profile = "day"
        self._profile_checked: datetime | None = None
        self._frames = 0
        self._previous: GreyImage | None = None
        self._previous_ts: float | None = None
        self._scores = HealthScores()
        self._reported_ms = 0
        self._graffiti = (
            GraffitiDetector(config=config.graffiti)
            if config.graffiti is not None and config.graffiti.walls
            else None
        )
        self._graffiti_area: dict[str, float] = {}
        self._displacement: float | None = None  # last measured; ORB runs on a schedule
        self._pending_adapt: tuple[_ProfileState, Structure | None, Exposure | None] | None = None

    # -- the seam -------------------------------------------------------------------------

    def observe(
        self,
        frame: npt.NDArray[np.uint8],
        *,
        now: datetime,
        meta: FrameMeta | None = None,
        occluders: Sequence[Box] = (),
    ) -> tuple[list[Reading], list[EventItem]]:
        """Analyse one frame taken at ``now``; returns readings (every report interval) and
        events (when a condition sets or clears). ``occluders`` are boxes of people or
        vehicles from the detector, in normalised coordinates, kept off the walls."""
        scores = self.measure(frame, now=now, meta=meta)
        events = self._decide(scores, now)
        if self._graffiti is not None and self._frames % self.config.schedule.graffiti_every == 0:
            events.extend(self._look_at_walls(frame, now, occluders))
        return self._report(now), events

    def observe_scores(
        self, scores: HealthScores, *, now: datetime, profile: Profile | None = None
    ) -> tuple[list[Reading], list[EventItem]]:
        """The same decisions from precomputed scores (fleet simulator, replay)."""
        events = self._decide(scores, now, profile)
        return self._report(now), events

    def acknowledge(self, event_type: str | None = None, *, now: datetime) -> list[EventItem]:
        """Hub's ``ack_tamper``: clears latched events whose condition has gone; one still
        showing clears by itself once it goes. ``graffiti`` accepts the walls as they are now
        (a permitted mural): active graffiti clears and the wall references are relearned.
        ``None`` acknowledges every camera-health event. Raises ValueError for an unknown
        type."""
        if event_type == EVENT_GRAFFITI:
            out = []
            if self._graffiti is not None:
                for index, (wall, on) in enumerate(self._graffiti.active.items()):
                    if on:
                        values = {"wall": float(index), "graffitiArea": 0.0}
                        out.append(self._event(Transition(EVENT_GRAFFITI, False, now, values)))
                        self._graffiti_area[wall] = 0.0
                self._graffiti.relearn()
            return out
        return [self._event(t) for t in self._state.acknowledge(event_type, now=now)]

    def relearn(self) -> None:
        """Forget baselines, references and wall references (the camera was re-aimed)."""
        self._profiles.clear()
        if self._graffiti is not None:
            self._graffiti.relearn()

    # -- introspection for the CLI and tests ------------------------------------------------

    @property
    def active(self) -> frozenset[str]:
        return self._state.active | {
            EVENT_GRAFFITI
            for on in (self._graffiti.active if self._graffiti else {}).values()
            if on
        }

    @property
    def verdicts(self) -> dict[str, bool | None]:
        return dict(self._state.verdicts)

    @property
    def scores(self) -> HealthScores:
        return self._scores

    @property
    def health_score(self) -> float:
        return self._state.score

    def baseline_ready(self, profile: Profile = "day") -> bool:
        state = self._profiles.get(profile)
        return state is not None and state.baseline is not None

    # -- measurement --------------------------------------------------------------------------

    def measure(
        self, frame: npt.NDArray[np.uint8], *, now: datetime, meta: FrameMeta | None = None
    ) -> HealthScores:
        """Measure one frame against the current profile's baseline (learning it first)."""
        cfg = self.config
        self._frames += 1
        grey = hm.to_grey(frame)
        if grey is frame:
            grey = grey.copy()  # the source may reuse its buffer for the next frame
        changed = hm.changed_fraction(grey, self._previous)
        self._previous = grey
        ts = meta.stream_ts_ms if meta is not None else None
        stalled = ts is not None and self._previous_ts is not None and ts <= self._previous_ts
        self._previous_ts = ts if ts is not None else self._previous_ts

        profile = self._profile_now(now)
        p = cfg.profile(profile)
        st = self._profiles.setdefault(
            profile, _ProfileState(hb.BaselineLearner(duration=cfg.baseline))
        )
        small = hm.downscale(grey, cfg.analysis_width)
        exposure = (
            hm.exposure(small, dark_level=p.dark_level, bright_level=p.bright_level)
            if self._frames % cfg.schedule.exposure_every == 0
            else None
        )
        structure = (
            hm.structure(small, cfg.grid)
            if self._frames % cfg.schedule.structure_every == 0
            else None
        )
        due = self._frames % cfg.schedule.displacement_every == 0
        if st.baseline is None:
            return self._learn(
                st,
                small,
                exposure=exposure,
                structure=structure,
                due=due,
                changed=changed,
                stalled=stalled,
                now=now,
            )

        base = st.baseline
        sharp = edge = covered = None
        if structure is not None:
            if exposure is not None:
                st.light = hb.luma_ratio(exposure, base)
            sharp, edge, covered = hb.structure_ratios(
                structure,
                base,
                min_texture=cfg.min_texture,
                cell_ratio=p.cover_cell_ratio,
                light=st.light,
            )
        shift_px = shift_fraction = None
        inliers: int | None = None
        if due and st.reference is not None and (base.inliers or 0) >= cfg.min_reference_inliers:
            result = st.reference.match(small)
            inliers = result.inliers
            if result.shift_px is not None:
                shift_fraction = result.shift_px / small.shape[1]
                shift_px = shift_fraction * grey.shape[1]
        scores = HealthScores(
            sharpness=sharp,
            edge_density=edge,
            covered_fraction=covered,
            mean_luma=exposure.mean_luma if exposure else None,
            luma_ratio=hb.luma_ratio(exposure, base) if exposure else None,
            dark_fraction=exposure.dark_fraction if exposure else None,
            bright_fraction=exposure.bright_fraction if exposure else None,
            changed_fraction=changed,
            stream_stalled=stalled,
            displacement_px=shift_px,
            shift_fraction=shift_fraction,
            inliers=inliers,
        )
        self._pending_adapt = (st, structure, exposure)
        return scores

    def _learn(
        self,
        st: _ProfileState,
        small: GreyImage,
        *,
        exposure: Exposure | None,
        structure: Structure | None,
        due: bool,
        changed: float | None,
        stalled: bool,
        now: datetime,
    ) -> HealthScores:
        """Baseline period: collect, and judge only what needs no baseline."""
        self._pending_adapt = None
        if st.reference is None:
            st.reference = ReferenceView(small)
        elif due:
            st.learner.add_inliers(st.reference.match(small).inliers)
        if structure is not None and exposure is not None:
            st.learner.add(structure, exposure, now)
        if st.learner.complete(now):
            if not st.learner.inlier_samples:  # one agreement count at least
                st.learner.add_inliers(st.reference.match(small).inliers)
            st.baseline = st.learner.result()
            st.adapted_at = now
            log.info(
                "camera %s: %s baseline learned over %d frames (displacement check %s)",
                self.config.camera,
                self._profile,
                st.learner.frames,
                "on" if (st.baseline.inliers or 0) >= self.config.min_reference_inliers else "off",
            )
        return HealthScores(
            mean_luma=exposure.mean_luma if exposure else None,
            dark_fraction=exposure.dark_fraction if exposure else None,
            bright_fraction=exposure.bright_fraction if exposure else None,
            changed_fraction=changed,
            stream_stalled=stalled,
        )

    def _profile_now(self, now: datetime) -> Profile:
        checked = self._profile_checked
        if checked is None or abs((now - checked).total_seconds()) >= _PROFILE_RECHECK_S:
            self._profile = profile_at(now, self.config.daynight)
            self._profile_checked = now
        return self._profile

    # -- decisions and reporting ------------------------------------------------------------

    def _decide(
        self, scores: HealthScores, now: datetime, profile: Profile | None = None
    ) -> list[EventItem]:
        self._scores = scores
        if scores.displacement_px is not None:
            self._displacement = scores.displacement_px
        transitions = self._state.update(scores, now=now, profile=profile or self._profile_now(now))
        self._adapt(now)
        return [self._event(t) for t in transitions]

    def _adapt(self, now: datetime) -> None:
        """Follow slow scene change, but only on frames where nothing looks wrong."""
        pending, self._pending_adapt = self._pending_adapt, None
        if pending is None:
            return
        st, structure, exposure = pending
        healthy = not any(self._state.verdicts.values()) and not self._state.active
        if not healthy or structure is None or exposure is None or st.baseline is None:
            return
        elapsed = (now - st.adapted_at).total_seconds() if st.adapted_at else 0.0
        weight = hb.adapt_weight(elapsed, self.config.adapt_seconds)
        st.baseline = hb.adapt(st.baseline, structure, exposure, weight=weight)
        st.adapted_at = now

    def _look_at_walls(
        self, frame: npt.NDArray[np.uint8], now: datetime, occluders: Sequence[Box]
    ) -> list[EventItem]:
        # A camera that cannot see properly, or a night picture, says nothing about paint.
        if self._state.active or any(self._state.verdicts.values()) or self._profile == "night":
            return []
        assert self._graffiti is not None
        out: list[EventItem] = []
        for index, result in enumerate(self._graffiti.observe(frame, now=now, occluders=occluders)):
            if result.area_m2 is not None:
                self._graffiti_area[result.wall] = result.area_m2
            if result.event is not None:
                values = {"wall": float(index), "graffitiArea": round(result.area_m2 or 0.0, 3)}
                out.append(self._event(Transition(EVENT_GRAFFITI, result.event, now, values)))
        return out

    def _event(self, t: Transition) -> EventItem:
        return EventItem(
            asset=self.config.camera,
            kind=AssetKind.CAMERA,
            type=t.event_type,
            t=to_ms(t.at),
            active=t.active,
            severity=_SEVERITY.get(t.event_type, "warning"),  # type: ignore[arg-type]
            values=t.values,
        )

    def _report(self, now: datetime) -> list[Reading]:
        """Readings once per report interval (times strictly increase), else nothing."""
        t = to_ms(now)
        if t - self._reported_ms < self.config.report_interval_s * 1000:
            return []
        self._reported_ms = t
        s = self._scores
        cam = self.config.camera

        def reading(field: str, value: float | bool, sensor: str = SENSOR) -> Reading:
            return Reading(
                asset=cam, kind=AssetKind.CAMERA, sensor=sensor, field=field, t=t, v=value
            )

        pairs: list[tuple[str, float | bool | None]] = [
            ("sharpness", s.sharpness),
            ("edgeDensity", s.edge_density),
            ("meanLuma", s.mean_luma),
            ("displacement", self._displacement),
        ]
        readings = [reading(f, round(v, 4)) for f, v in pairs if v is not None]
        if self._state.verdicts.get("cameraFrozen") is not None:
            readings.append(reading("frozen", "cameraFrozen" in self._state.active))
        readings.append(reading("healthScore", round(self._state.score, 4)))
        readings.extend(
            reading("graffitiArea", round(area, 3), sensor=wall)
            for wall, area in self._graffiti_area.items()
        )
        return readings
