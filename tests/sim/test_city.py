"""The simulated Solna: inside the city's extent, complete, and the same for the same seed."""

from __future__ import annotations

from collections import Counter

import pytest

from sim.city import build_city
from sim.places import inside
from trygg.contract import AssetKind


@pytest.mark.parametrize("devices", [1, 10, 40, 997])
def test_every_asset_lies_inside_solna(devices: int) -> None:
    city = build_city(devices, seed=3)
    assert len(city.devices) == devices
    for _d, a in city.assets():
        assert inside(a.lat, a.lon), a


def test_a_city_has_lamps_on_cabinets_bins_cameras_and_crowd_zones() -> None:
    city = build_city(40, seed=1)
    kinds = Counter(a.kind for _d, a in city.assets())
    assert kinds[AssetKind.STREETLIGHT] == 48
    assert kinds[AssetKind.BIN] == 16
    assert kinds[AssetKind.CAMERA] == 8
    # the arena's two camera poles watch two exit zones each
    assert kinds[AssetKind.CROWD] == 10
    cabinets = city.cabinets()
    assert all(len(lamps) >= 2 for lamps in cabinets.values())
    assert sum(len(v) for v in cabinets.values()) == 48
    assert {d.site for d in city.devices} >= {"solna-centrum", "arenastaden"}
    ids = [a.id for _d, a in city.assets()]
    assert len(ids) == len(set(ids))


def test_same_seed_same_city_other_seed_other_city() -> None:
    assert build_city(30, seed=5) == build_city(30, seed=5)
    assert build_city(30, seed=5) != build_city(30, seed=6)


def test_no_city_without_devices() -> None:
    with pytest.raises(ValueError, match="at least one"):
        build_city(0, seed=1)
