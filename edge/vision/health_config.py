"""Typed, frozen configuration for camera health and graffiti detection on one camera.

Every threshold is *relative to the camera's own learned baseline* where the quantity
depends on the scene (sharpness, edges, texture, brightness); only quantities with a
physical meaning of their own (pixel saturation, fraction of unchanged pixels) are
absolute. Durations are stated in frames *and* seconds and both must be met, so a camera
that delivers 1 fps and one that delivers 25 fps are both protected from one-frame blips
and from short bursts of frames.

The hub's device config embeds :class:`CameraHealthConfig`; unknown keys are rejected.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

EVENT_BLURRED: Final = "cameraBlurred"
EVENT_COVERED: Final = "cameraCovered"
EVENT_DISPLACED: Final = "cameraDisplaced"
EVENT_FROZEN: Final = "cameraFrozen"
EVENT_DARK: Final = "cameraDark"
EVENT_OVEREXPOSED: Final = "cameraOverexposed"
EVENT_GRAFFITI: Final = "graffiti"
HEALTH_EVENTS: Final = (
    EVENT_BLURRED,
    EVENT_COVERED,
    EVENT_DISPLACED,
    EVENT_FROZEN,
    EVENT_DARK,
    EVENT_OVEREXPOSED,
)
HealthEvent = Literal[
    "cameraBlurred",
    "cameraCovered",
    "cameraDisplaced",
    "cameraFrozen",
    "cameraDark",
    "cameraOverexposed",
]

Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Duration(_Frozen):
    """A span that is over when at least ``frames`` observations AND ``seconds`` have passed."""

    frames: int = Field(ge=1)
    seconds: float = Field(ge=0.0)


class ProfileConfig(_Frozen):
    """Thresholds for one lighting profile (day or night); ratios are against the baseline
    learned *in that profile*, so a dim night picture is compared with other night pictures."""

    dark_alarm: bool = Field(
        default=True,
        description="raise cameraDark; off means dark frames raise nothing (a covered lens "
        "and lights-off look the same), as Axis does",
    )
    blur_ratio: Ratio = Field(default=0.35, description="sharpness below this x baseline")
    cover_cell_ratio: Ratio = Field(
        default=0.4,
        description="a grid cell is 'lost' when its contrast drops below this x baseline",
    )
    cover_fraction: Ratio = Field(
        default=0.5, description="lost share of textured cells: most of the view"
    )
    dark_level: int = Field(default=40, ge=1, le=254, description="grey level counted as dark")
    dark_fraction: Ratio = Field(default=0.85, description="share of dark pixels")
    dark_luma_ratio: Ratio = Field(default=0.5, description="mean luma below this x baseline")
    bright_level: int = Field(
        default=250, ge=1, le=255, description="grey level counted as clipped"
    )
    overexposed_fraction: Ratio = Field(default=0.5, description="share of clipped pixels")
    max_shift_fraction: Ratio = Field(
        default=0.02, description="displacement beyond this share of the frame width"
    )
    min_inliers: int = Field(
        default=12,
        ge=4,
        description="fewer RANSAC inliers than this: the camera sees another scene. Absolute, "
        "because inlier counts of one scene swing several-fold with compression and lighting",
    )


class DayNightConfig(_Frozen):
    """How the profile is chosen. ``sun`` uses the sun's elevation at the pole (pure
    arithmetic, no network); ``off`` always uses the day profile."""

    mode: Literal["off", "sun"] = "off"
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    night_below_deg: float = Field(
        default=-3.0, ge=-18, le=10, description="sun elevation under which it is night"
    )

    @model_validator(mode="after")
    def _needs_location(self) -> DayNightConfig:
        if self.mode == "sun" and (self.latitude is None or self.longitude is None):
            raise ValueError("daynight.mode 'sun' needs latitude and longitude")
        return self


class ScheduleConfig(_Frozen):
    """How often each check runs, in frames. The cheap checks run every frame; ORB matching
    and graffiti warping are the costly ones and faults they catch last minutes anyway."""

    exposure_every: int = Field(default=1, ge=1)
    structure_every: int = Field(default=1, ge=1)
    displacement_every: int = Field(default=25, ge=1)
    graffiti_every: int = Field(default=10, ge=1)


class WallConfig(_Frozen):
    """A planar wall region: four image corners (normalised 0..1, clockwise from top-left)
    and the real size of that quadrilateral, which calibrates pixels to square metres."""

    name: Name
    corners: tuple[
        tuple[Ratio, Ratio], tuple[Ratio, Ratio], tuple[Ratio, Ratio], tuple[Ratio, Ratio]
    ]
    width_m: float = Field(gt=0, le=200)
    height_m: float = Field(gt=0, le=100)


class GraffitiConfig(_Frozen):
    """Change against a clean reference of each wall, after illumination normalisation.

    Moments when something moves in front of the wall are skipped, and only change that
    stays put for ``persist`` counts, so passers-by and parked vans are not graffiti."""

    walls: tuple[WallConfig, ...] = Field(default=(), max_length=16)
    pixels_per_metre: float = Field(default=80.0, ge=10, le=400)
    reference: Duration = Duration(frames=10, seconds=10.0)
    persist: Duration = Duration(frames=12, seconds=300.0)
    clear: Duration = Duration(frames=12, seconds=600.0)
    diff_level: float = Field(default=30.0, gt=0, le=255, description="normalised grey change")
    chroma_level: float = Field(default=18.0, gt=0, le=255, description="a*b* colour change")
    min_area_m2: float = Field(default=0.05, ge=0)
    motion_fraction: Ratio = Field(
        default=0.01, description="wall share changed since the last look = someone passing"
    )


class CameraHealthConfig(_Frozen):
    """Health checks for one camera asset."""

    camera: Name = Field(description="asset id of the camera")
    analysis_width: int = Field(default=320, ge=80, le=1920)
    grid: tuple[int, int] = (16, 12)
    baseline: Duration = Duration(frames=50, seconds=20.0)
    set_after: Duration = Duration(frames=10, seconds=20.0)
    clear_after: Duration = Duration(frames=10, seconds=30.0)
    frozen_after: Duration = Duration(frames=50, seconds=10.0)
    frozen_changed_fraction: Ratio = Field(
        default=0.001,
        description="a frame with fewer changed pixels than this is a repeat; sensor noise "
        "changes far more even in a still scene",
    )
    latched: frozenset[HealthEvent] = frozenset({EVENT_COVERED, EVENT_DISPLACED, EVENT_BLURRED})
    adapt_seconds: float = Field(
        default=6 * 3600.0, gt=0, description="time constant of slow baseline adaptation"
    )
    report_interval_s: float = Field(default=60.0, gt=0)
    min_texture: float = Field(
        default=1.5,
        ge=0,
        description="cells flatter than this grey-level std (about a sensor's noise floor at "
        "analysis size) are never counted as covered",
    )
    min_reference_inliers: int = Field(default=20, ge=4)
    day: ProfileConfig = ProfileConfig()
    night: ProfileConfig = ProfileConfig(dark_alarm=False)
    daynight: DayNightConfig = DayNightConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    graffiti: GraffitiConfig | None = None

    def profile(self, name: Literal["day", "night"]) -> ProfileConfig:
        return self.night if name == "night" else self.day
