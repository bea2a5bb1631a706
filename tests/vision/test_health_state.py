"""Pure decision logic: conditions, minimum durations, latching and the scores seam."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from edge.vision.health import CameraHealthMonitor
from edge.vision.health_config import (
    CameraHealthConfig,
    DayNightConfig,
    Duration,
    ProfileConfig,
)
from edge.vision.health_state import (
    Debouncer,
    HealthScores,
    conditions,
    profile_at,
)

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
OK = HealthScores(
    sharpness=1.0,
    edge_density=1.0,
    covered_fraction=0.0,
    mean_luma=120.0,
    luma_ratio=1.0,
    dark_fraction=0.05,
    bright_fraction=0.0,
    changed_fraction=0.6,
    shift_fraction=0.001,
    inliers=200,
)


def with_(**kw: object) -> HealthScores:
    fields = {name: getattr(OK, name) for name in OK.__slots__}
    fields.update(kw)
    return HealthScores(**fields)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        (OK, set()),
        (with_(sharpness=0.1), {"cameraBlurred"}),
        (with_(covered_fraction=0.9, sharpness=0.1), {"cameraCovered"}),  # cover hides blur
        (with_(dark_fraction=0.95, luma_ratio=0.2, covered_fraction=1.0), {"cameraDark"}),
        (with_(bright_fraction=0.8, sharpness=0.2), {"cameraOverexposed"}),
        (with_(shift_fraction=0.1), {"cameraDisplaced"}),
        (with_(inliers=3), {"cameraDisplaced"}),
        (with_(inliers=3, sharpness=0.1), {"cameraBlurred"}),  # blur explains lost matches
        (with_(changed_fraction=0.0), {"cameraFrozen"}),
        (with_(changed_fraction=None, stream_stalled=True), {"cameraFrozen"}),
        # A dark scene that is as dark as its baseline is not a fault (night profile).
        (with_(dark_fraction=0.95, luma_ratio=0.9), set()),
    ],
)
def test_conditions_table(scores: HealthScores, expected: set[str]) -> None:
    verdicts = conditions(scores, ProfileConfig(), 0.001)
    assert {k for k, v in verdicts.items() if v} == expected


def test_dark_alarm_off_raises_nothing_for_a_dark_frame() -> None:
    dark = with_(dark_fraction=0.99, luma_ratio=0.05, covered_fraction=1.0, sharpness=0.0)
    verdicts = conditions(dark, ProfileConfig(dark_alarm=False), 0.001)
    assert not any(verdicts.values())


def test_black_frames_do_not_prove_a_stall() -> None:
    black = with_(dark_fraction=1.0, luma_ratio=0.0, changed_fraction=0.0)
    assert conditions(black, ProfileConfig(), 0.001)["cameraFrozen"] is None


def test_minimum_duration_needs_frames_and_seconds() -> None:
    d = Debouncer(
        set_after=Duration(frames=3, seconds=10),
        clear_after=Duration(frames=2, seconds=5),
        latched=False,
    )
    # Many frames in a short time: not yet.
    assert [d.update(True, T0 + timedelta(seconds=i * 0.1)) for i in range(20)] == [None] * 20
    assert d.update(True, T0 + timedelta(seconds=10)) is True
    # An unknown observation changes nothing; one good frame is not enough to clear.
    assert d.update(None, T0 + timedelta(seconds=11)) is None
    assert d.update(False, T0 + timedelta(seconds=12)) is None
    assert d.update(False, T0 + timedelta(seconds=16)) is None  # 2 frames, 4 s
    assert d.update(False, T0 + timedelta(seconds=17)) is False


def test_few_seconds_but_too_few_frames_do_not_set() -> None:
    d = Debouncer(
        set_after=Duration(frames=5, seconds=1),
        clear_after=Duration(frames=1, seconds=0),
        latched=False,
    )
    assert [d.update(True, T0 + timedelta(minutes=i)) for i in range(5)] == [None] * 4 + [True]


def test_latched_event_clears_only_after_ack_and_condition_gone() -> None:
    d = Debouncer(
        set_after=Duration(frames=1, seconds=0),
        clear_after=Duration(frames=1, seconds=0),
        latched=True,
    )
    assert d.update(True, T0) is True
    assert d.acknowledge() is False  # still covered: stays active, acked
    assert d.active
    assert d.update(False, T0 + timedelta(seconds=1)) is False  # acked, now gone: clears
    assert d.update(True, T0 + timedelta(seconds=2)) is True
    assert d.update(False, T0 + timedelta(seconds=3)) is None  # gone but not acked
    assert d.active
    assert d.acknowledge() is True


def test_fleet_scores_drive_the_same_state_machine() -> None:
    cfg = CameraHealthConfig(camera="cam-9", set_after=Duration(frames=3, seconds=2))
    monitor = CameraHealthMonitor(config=cfg)
    seen = []
    for i in range(10):
        now = T0 + timedelta(seconds=i)
        readings, events = monitor.observe_scores(with_(covered_fraction=0.95), now=now)
        seen.extend(events)
        if i == 0:
            fields = {r.field for r in readings}
            assert {"sharpness", "edgeDensity", "meanLuma", "healthScore", "frozen"} <= fields
    assert [(e.type, e.active, e.kind) for e in seen] == [("cameraCovered", True, "camera")]
    assert seen[0].values["coveredFraction"] == pytest.approx(0.95)
    assert monitor.health_score == pytest.approx(0.05)
    cleared = monitor.acknowledge("cameraCovered", now=T0 + timedelta(seconds=11))
    assert cleared == []  # still covered
    with pytest.raises(ValueError, match="unknown"):
        monitor.acknowledge("notAnEvent", now=T0)


def test_readings_come_once_per_interval_with_increasing_times() -> None:
    monitor = CameraHealthMonitor(config=CameraHealthConfig(camera="cam-9", report_interval_s=60))
    times: list[int] = []
    for i in range(300):
        readings, _ = monitor.observe_scores(OK, now=T0 + timedelta(seconds=i))
        times.extend({r.t for r in readings})
    assert len(times) == 5
    assert times == sorted(set(times))


def test_sun_profile_in_stockholm() -> None:
    cfg = DayNightConfig(mode="sun", latitude=59.36, longitude=18.0)
    assert profile_at(datetime(2026, 12, 21, 11, 0, tzinfo=UTC), cfg) == "day"
    assert profile_at(datetime(2026, 12, 21, 20, 0, tzinfo=UTC), cfg) == "night"
    assert profile_at(datetime(2026, 12, 21, 20, 0, tzinfo=UTC), DayNightConfig()) == "day"
    with pytest.raises(ValueError, match="latitude"):
        DayNightConfig(mode="sun")


def test_config_rejects_unknown_keys_and_is_frozen() -> None:
    with pytest.raises(ValueError, match="extra"):
        CameraHealthConfig.model_validate({"camera": "c1", "blur": 3})
    cfg = CameraHealthConfig(camera="c1")
    with pytest.raises(ValueError, match="frozen"):
        cfg.camera = "c2"
    assert cfg.baseline.frames > 0
    assert cfg.baseline.seconds > 0


def test_pure_modules_import_no_opencv() -> None:
    code = (
        "import sys, edge.vision.health_state, edge.vision.health_baseline, "
        "edge.vision.health_config, edge.vision.sources; "
        "bad = {'cv2', 'onnxruntime', 'asyncio', 'picamera2'} & set(sys.modules); "
        "print(sorted(bad)); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
