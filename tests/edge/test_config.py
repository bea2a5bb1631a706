"""Device configuration: every shipped file loads; broken files name file, key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import ConfigError, load_device_config, load_fleet
from edge.drivers.registry import REGISTRY, build_drivers
from edge.sensor_config import FIELDS_PER_TYPE

ROOT = Path(__file__).resolve().parents[2] / "firmware-config"


def test_every_file_in_firmware_config_loads_and_builds_drivers() -> None:
    files = sorted((ROOT / "devices").glob("*.yaml"))
    assert files, "firmware-config/devices has no device files"
    fleet = load_fleet(ROOT)
    assert [c.id for c in fleet] == [f.stem for f in files]
    for config in fleet:
        drivers = build_drivers(config.assets, state_dir=Path("/tmp"))
        assert len(drivers) == sum(len(a.sensors) for a in config.assets)
        # nothing frozen can be changed after validation
        with pytest.raises(ValueError, match="frozen"):
            config.id = "other"


def test_every_driver_type_has_a_sim_twin_and_a_field_count() -> None:
    real = [t for t in REGISTRY if not t.startswith("sim_") and t != "sim_lamp"]
    for t in real:
        assert f"sim_{t}" in REGISTRY or t == "gpio_relay", t
    assert "sim_relay" in REGISTRY
    assert set(FIELDS_PER_TYPE) == set(REGISTRY)


def _write(tmp: Path, fleet: str, device: str) -> Path:
    (tmp / "devices").mkdir(parents=True)
    (tmp / "fleet.yaml").write_text(fleet)
    path = tmp / "devices" / "pole-9.yaml"
    path.write_text(device)
    return path


DEVICE = """\
id: pole-9
site: s1
assets:
  - id: lamp-9
    kind: streetlight
    lat: 59.3
    lon: 18.0
    sensors:
      - type: sim_lamp
        id: lamp
        interval_s: 60
"""


@pytest.mark.parametrize(
    ("device", "where", "key"),
    [
        (DEVICE.replace("        interval_s: 60", "        intervl_s: 60"), ":11", "intervl_s"),
        (DEVICE.replace("interval_s: 60", "interval_s: -1"), ":11", "interval_s"),
        (DEVICE.replace("type: sim_lamp", "type: warp_drive"), ":9", "sensors.0"),
        (DEVICE.replace("lat: 59.3", "lat: 959.3"), ":6", "lat"),
        (DEVICE.replace("id: pole-9", "id: Pole_9!"), ":1", "id"),
    ],
)
def test_broken_device_file_names_file_key_and_line(
    tmp_path: Path, device: str, where: str, key: str
) -> None:
    path = _write(tmp_path, "", device)
    with pytest.raises(ConfigError) as err:
        load_device_config(path)
    text = str(err.value)
    assert f"{path}{where}" in text
    assert key in text


def test_bad_key_in_fleet_defaults_is_reported_in_the_fleet_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "broker:\n  port: 1883\n  colour: blue\n", DEVICE)
    with pytest.raises(ConfigError, match=r"fleet\.yaml:3: key 'broker\.colour'"):
        load_device_config(path)


def test_not_yaml_and_not_a_mapping_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "", "id: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot read YAML"):
        load_device_config(path)
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_device_config(path)


def test_fleet_refuses_a_file_whose_name_is_not_its_id(tmp_path: Path) -> None:
    _write(tmp_path, "", DEVICE.replace("id: pole-9", "id: pole-8"))
    with pytest.raises(ConfigError, match="does not match the file name"):
        load_fleet(tmp_path)


def test_bin_geometry_must_be_ordered(tmp_path: Path) -> None:
    bad = DEVICE.replace(
        "      - type: sim_lamp\n        id: lamp\n        interval_s: 60\n",
        "      - {type: sim_ultrasonic, id: lvl, depth_empty_m: 0.2, depth_full_m: 0.5}\n",
    )
    path = _write(tmp_path, "", bad)
    with pytest.raises(ConfigError, match="depth_full_m must be less"):
        load_device_config(path)


def test_outbox_holds_at_least_seven_days_at_the_configured_rates(tmp_path: Path) -> None:
    # 3 fields every 60 s = 0.05 readings/s -> 30,240 a week, +20 %
    path = _write(tmp_path, "outbox: {capacity: 100}\n", DEVICE)
    config = load_device_config(path)
    assert config.readings_per_second() == pytest.approx(0.05)
    assert config.outbox_capacity() == 36_288
    assert config.outbox_capacity() >= config.readings_per_second() * 7 * 24 * 3600


def test_inline_outbox_io_is_refused_with_a_syncing_outbox(tmp_path: Path) -> None:
    """Inline outbox calls run on the event loop: only without an fsync per commit."""
    path = _write(tmp_path, "outbox: {io: inline}\n", DEVICE)
    with pytest.raises(ConfigError, match=r"inline.*synchronous NORMAL"):
        load_device_config(path)
    path = _write(tmp_path / "ok", "outbox: {io: inline, synchronous: NORMAL}\n", DEVICE)
    assert load_device_config(path).outbox.io == "inline"
