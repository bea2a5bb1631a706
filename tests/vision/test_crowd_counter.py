"""CrowdCounter with the simulated detector: intervals, zones, density, the privacy seam."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from edge.vision.crowd import CrowdCounter
from edge.vision.crowd_config import CrowdConfig, TilingConfig, ZoneConfig
from edge.vision.detector import StaticConfig, StaticDetector
from trygg.contract import FIELDS, AssetKind, Data, Reading, encode

T0 = datetime(2026, 6, 6, 12, 0, tzinfo=UTC)
FRAME = np.zeros((1080, 1920, 3), np.uint8)
CROWD_FIELDS = {
    "peopleCount",
    "peopleDensity",
    "levelOfService",
    "levelOfServiceQueue",
    "occlusionLimited",
    "congested",
}


Box = tuple[float, float, float, float, float]


def _boxes(n: int, *, x0: float = 100, y_feet: float = 900) -> tuple[Box, ...]:
    return tuple((x0 + 40 * i, y_feet - 80, x0 + 40 * i + 20, y_feet, 0.9) for i in range(n))


def _counter(boxes: tuple[Box, ...], *, area: float | None = 10.0, **kw: object) -> CrowdCounter:
    zones = (
        (
            ZoneConfig(id="left", polygon=((0, 0), (960, 0), (960, 1080), (0, 1080)), area_m2=area),
            ZoneConfig(
                id="right", polygon=((960, 0), (1920, 0), (1920, 1080), (960, 1080)), area_m2=area
            ),
        )
        if area is not None
        else ()
    )
    cfg = CrowdConfig.model_validate(
        {
            "sensor": "cam-1",
            "interval_s": 10,
            "zones": zones,
            "tiling": TilingConfig(enabled=False),
            **kw,
        }
    )
    return CrowdCounter(detector=StaticDetector(config=StaticConfig(boxes=boxes)), config=cfg)


def _by(readings: list[Reading]) -> dict[tuple[str, str], Reading]:
    return {(r.asset, r.field): r for r in readings}


def test_readings_only_when_the_interval_closes() -> None:
    counter = _counter(_boxes(5))
    assert counter.observe(FRAME, T0) == []
    assert counter.observe(FRAME, T0 + timedelta(seconds=5)) == []
    out = counter.observe(FRAME, T0 + timedelta(seconds=10))
    got = _by(out)
    assert got[("left", "peopleCount")].v == 5
    assert got[("right", "peopleCount")].v == 0
    assert got[("left", "peopleDensity")].v == pytest.approx(0.5)
    assert got[("left", "levelOfService")].v == "C"
    assert got[("left", "levelOfServiceQueue")].v == "A"
    assert got[("left", "occlusionLimited")].v is False
    assert got[("left", "congested")].v is False
    assert all(r.t == int((T0 + timedelta(seconds=10)).timestamp() * 1000) for r in out)
    assert counter.observe(FRAME, T0 + timedelta(seconds=11)) == []


def test_feet_decide_the_zone() -> None:
    # boxes straddle x=960 but their bottom centres are right of it
    boxes = tuple((950.0, 500.0, 990.0, 600.0, 0.9) for _ in range(1))
    counter = _counter(boxes, interval_s=0)
    got = _by(counter.observe(FRAME, T0))
    assert got[("right", "peopleCount")].v == 1
    assert got[("left", "peopleCount")].v == 0


def test_dense_zone_is_flagged_occlusion_limited_and_uncertain() -> None:
    counter = _counter(_boxes(21), area=10.0, interval_s=0)
    got = _by(counter.observe(FRAME, T0))
    assert got[("left", "peopleDensity")].v == pytest.approx(2.1)
    assert got[("left", "occlusionLimited")].v is True
    assert got[("left", "peopleCount")].q == "uncertain"
    assert got[("left", "congested")].v is True
    assert got[("left", "levelOfService")].v == "E"


def test_without_zones_the_whole_frame_is_one_count() -> None:
    counter = _counter(_boxes(3), area=None, interval_s=0)
    out = counter.observe(FRAME, T0)
    assert [(r.asset, r.field, r.v) for r in out] == [("cam-1", "peopleCount", 3)]


def test_min_frames_needs_a_person_in_consecutive_frames() -> None:
    counter = _counter(_boxes(4), interval_s=0, min_frames=3)
    first = _by(counter.observe(FRAME, T0))
    assert first[("left", "peopleCount")].v == 0
    counter.observe(FRAME, T0 + timedelta(seconds=1))
    third = _by(counter.observe(FRAME, T0 + timedelta(seconds=2)))
    assert third[("left", "peopleCount")].v == 4


def test_times_strictly_increase_even_within_one_millisecond() -> None:
    counter = _counter(_boxes(1), interval_s=0)
    a = counter.observe(FRAME, T0)
    b = counter.observe(FRAME, T0)
    assert b[0].t > a[0].t


def test_naive_time_and_bad_frames_are_rejected() -> None:
    counter = _counter(_boxes(1))
    with pytest.raises(ValueError, match="timezone"):
        counter.observe(FRAME, datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="uint8"):
        counter.observe(np.zeros((10, 10), np.uint8), T0)


def test_seam_returns_only_contract_fields_and_scalars() -> None:
    """Privacy: what leaves observe() is Reading objects of crowd fields, no boxes."""
    counter = _counter(_boxes(12), interval_s=0)
    out = counter.observe(FRAME, T0)
    assert out
    for r in out:
        assert type(r) is Reading
        assert r.kind is AssetKind.CROWD
        assert r.field in CROWD_FIELDS
        assert r.field in FIELDS
        assert isinstance(r.v, bool | int | float | str)
        assert set(r.model_dump()) == {
            "asset",
            "kind",
            "sensor",
            "field",
            "t",
            "v",
            "q",
            "unsynced",
        }
        if isinstance(r.v, str):
            assert len(r.v) == 1


def test_payload_size_is_bounded() -> None:
    """32 zones (the config maximum), one interval: one data message stays small."""
    zones = tuple(
        ZoneConfig(
            id=f"zone-{i:02d}",
            polygon=((i * 60, 0), (i * 60 + 60, 0), (i * 60 + 60, 1080), (i * 60, 1080)),
            area_m2=3.0,
        )
        for i in range(32)
    )
    cfg = CrowdConfig(sensor="cam-1", interval_s=0, zones=zones, tiling=TilingConfig(enabled=False))
    counter = CrowdCounter(
        detector=StaticDetector(config=StaticConfig(boxes=_boxes(40, x0=0))), config=cfg
    )
    out = counter.observe(FRAME, T0)
    assert len(out) == 32 * 6
    raw = encode(Data(device="pole-1", site="solna", boot=1, seq=1, readings=out))
    assert len(raw) < 32 * 6 * 160  # ~160 bytes per reading at most
    per_reading = len(raw) / len(out)
    assert per_reading < 160
