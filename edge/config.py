"""Device configuration: fleet defaults plus one YAML per device, validated once and frozen.

Unknown keys are refused; a :class:`ConfigError` names the file, the key and the line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trygg.contract import DEVICE_ID_PATTERN, AssetKind

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ConfigError(ValueError):
    """A configuration file that cannot be used, with file, key and line."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BrokerConfig(_Frozen):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    username: str | None = None
    password_file: Path | None = None
    keepalive_s: int = Field(default=60, ge=5, le=3600)
    reconnect_min_s: float = Field(default=1.0, gt=0)
    reconnect_max_s: float = Field(default=120.0, gt=0)


class OutboxConfig(_Frozen):
    # 7 days of a message every 10 s is 60,480; the default leaves headroom.
    capacity: int = Field(default=200_000, ge=100)
    batch_readings: int = Field(default=50, ge=1, le=1000)
    flush_s: float = Field(default=5.0, gt=0)
    ack_timeout_s: float = Field(default=30.0, gt=0)
    window: int = Field(default=500, ge=1, description="messages in flight beyond the ack")


class SimLampSensor(_Frozen):
    """A simulated lamp: relay state, current and power, switching at civil twilight."""

    type: Literal["sim_lamp"]
    id: Annotated[str, Field(pattern=_NAME)]
    interval_s: float = Field(default=60.0, gt=0)
    rated_power_kw: float = Field(default=0.06, gt=0)


SensorConfig = Annotated[SimLampSensor, Field(discriminator="type")]


class AssetConfig(_Frozen):
    id: Annotated[str, Field(pattern=_NAME)]
    kind: AssetKind
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    cabinet: str | None = None
    address: str | None = None
    properties: dict[str, float | int | bool | str] = Field(default_factory=dict)
    sensors: list[SensorConfig] = Field(default_factory=list)


class DeviceConfig(_Frozen):
    id: Annotated[str, Field(pattern=DEVICE_ID_PATTERN)]
    site: Annotated[str, Field(pattern=_NAME)]
    device_class: str = "pole"
    firmware: str = "trygg-edge/0.1"
    heartbeat_s: float = Field(default=300.0, gt=0)
    state_dir: Path = Path("/var/lib/trygg")
    broker: BrokerConfig = BrokerConfig()
    outbox: OutboxConfig = OutboxConfig()
    assets: list[AssetConfig] = Field(default_factory=list)


def _line_of(path: Path, text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number of the key at ``loc`` in a YAML document."""
    try:
        node: Any = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    line = key.start_mark.line + 1
                    node = value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        text = path.read_text()
        data = yaml.safe_load(text) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return text, data


def load_device_config(path: Path, *, defaults: Path | None = None) -> DeviceConfig:
    """Load one device file merged over the fleet defaults (``fleet.yaml`` beside it)."""
    if defaults is None and (path.parent.parent / "fleet.yaml").exists():
        defaults = path.parent.parent / "fleet.yaml"
    base: dict[str, Any] = {}
    if defaults is not None:
        base = _read_yaml(defaults)[1]
    text, data = _read_yaml(path)
    try:
        return DeviceConfig.model_validate(_merge(base, data))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc)
        line = _line_of(path, text, loc)
        where = f"{path}:{line}" if line else str(path)
        raise ConfigError(f"{where}: key '{key}': {err['msg']}") from exc
