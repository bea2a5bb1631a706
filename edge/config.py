"""Device configuration: fleet defaults plus one YAML per device, validated once and frozen.

Unknown keys are refused; a :class:`ConfigError` names the file, the key and the line.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.ab import Layout
from edge.sensor_config import FIELDS_PER_TYPE, SensorConfig, SimLampSensor
from edge.vision.camera import CameraConfig
from trygg.contract import DEVICE_ID_PATTERN, AssetKind, Line, Value

__all__ = [
    "AssetConfig",
    "BrokerConfig",
    "CertificateConfig",
    "ConfigError",
    "DeviceConfig",
    "OutboxConfig",
    "ReleaseConfig",
    "SensorConfig",
    "SimLampSensor",
    "load_device_config",
    "load_fleet",
    "load_running_config",
]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
RETENTION_S = 7 * 24 * 3600  # the outbox holds at least this much at the configured rates


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


class CertificateConfig(_Frozen):
    """Renewing the pole's broker certificate through the hub (docs/certificates.md)."""

    renew: bool = Field(default=True, description="renew through the hub when TLS is used")
    renew_fraction: float = Field(
        default=0.5, gt=0, lt=1, description="renew once this share of the validity is left"
    )
    check_s: float = Field(default=3600.0, gt=0, description="how often to look at the dates")
    retry_s: float = Field(
        default=3600.0, gt=0, description="ask again after a refusal or no answer this long"
    )


class ReleaseConfig(_Frozen):
    """Over-the-air releases (docs/releases.md): where to fetch them, whose signature to
    trust, and the A/B folder they are installed into."""

    url: Annotated[str, Field(pattern=r"^https://[^\s]+$")] = Field(
        description="base URL of the hub's release server; {url}/{release id}/manifest.json"
    )
    public_keys: list[Path] = Field(min_length=1, description="release public keys (PEM)")
    root: Path = Field(default=Path("/var/lib/trygg/ab"), description="the A/B folder")
    ca_file: Path | None = Field(default=None, description="default: broker.ca_file")
    cert_file: Path | None = Field(default=None, description="default: the broker certificate")
    key_file: Path | None = Field(default=None, description="default: the broker key")
    health_deadline_s: float = Field(
        default=300.0, gt=0, description="a new release must pass its health check this fast"
    )
    download_timeout_s: float = Field(default=60.0, gt=0, description="per request")


class OutboxConfig(_Frozen):
    capacity: int | None = Field(
        default=None,
        ge=100,
        description="readings held before dropping oldest; at least 7 days at the configured "
        "rates is always kept (None: exactly that, plus 20 %)",
    )
    synchronous: Literal["NORMAL", "FULL"] = Field(
        default="FULL", description="FULL survives power loss, NORMAL only a process kill"
    )
    io: Literal["thread", "inline"] = Field(
        default="thread",
        description="thread: outbox calls run in a worker thread (an fsync on an SD card can "
        "take tens of ms); inline: on the event loop, for simulated fleets of thousands of "
        "agents per process, where the hand-off costs more than a commit that does not sync "
        "(needs synchronous NORMAL)",
    )

    @model_validator(mode="after")
    def _inline_needs_normal(self) -> OutboxConfig:
        if self.io == "inline" and self.synchronous != "NORMAL":
            raise ValueError("outbox io 'inline' needs synchronous NORMAL (no fsync per commit)")
        return self

    batch_readings: int = Field(default=50, ge=1, le=1000)
    flush_s: float = Field(default=5.0, gt=0)
    ack_timeout_s: float = Field(default=30.0, gt=0)
    window: int = Field(default=500, ge=1, description="messages in flight beyond the ack")


class AssetConfig(_Frozen):
    id: Annotated[str, Field(pattern=_NAME)]
    kind: AssetKind
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    cabinet: str | None = None
    # The contract's own types: a config the hub would refuse fails here, with its key.
    address: Line | None = None
    properties: dict[str, Value] = Field(default_factory=dict)
    sensors: list[SensorConfig] = Field(default_factory=list)


class DeviceConfig(_Frozen):
    id: Annotated[str, Field(pattern=DEVICE_ID_PATTERN)]
    site: Annotated[str, Field(pattern=_NAME)]
    device_class: str = "pole"
    firmware: Line = "trygg-edge/0.1"
    heartbeat_s: float = Field(default=300.0, gt=0)
    state_dir: Path = Path("/var/lib/trygg")
    broker: BrokerConfig = BrokerConfig()
    outbox: OutboxConfig = OutboxConfig()
    certificate: CertificateConfig = CertificateConfig()
    release: ReleaseConfig | None = None
    assets: list[AssetConfig] = Field(default_factory=list)
    cameras: list[CameraConfig] = Field(default_factory=list)

    def readings_per_second(self) -> float:
        """Readings per second at the configured intervals (before deadband savings)."""
        return sum(
            FIELDS_PER_TYPE[s.type] / (s.interval_s * s.window)
            for a in self.assets
            for s in a.sensors
        )

    def outbox_capacity(self) -> int:
        """Readings the outbox keeps: never less than seven days at the configured rates."""
        week = math.ceil(self.readings_per_second() * RETENTION_S * 1.2)
        return max(self.outbox.capacity or 0, week, 1000)


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number of the key at ``loc`` in a YAML document.

    Parts of ``loc`` that name no key (pydantic adds the union tag, e.g. ``sim_lamp``) are
    skipped, so the line is that of the deepest key that exists in the file.
    """
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
    """Load one device file merged over the fleet defaults.

    ``defaults`` defaults to ``fleet.yaml`` in the folder above the device file
    (``firmware-config/fleet.yaml`` for ``firmware-config/devices/<id>.yaml``). Raises
    :class:`ConfigError` naming the file, the key and the line; nothing is half-loaded.
    """
    if defaults is None and (path.parent.parent / "fleet.yaml").exists():
        defaults = path.parent.parent / "fleet.yaml"
    base: dict[str, Any] = {}
    base_text = ""
    if defaults is not None:
        base_text, base = _read_yaml(defaults)
    text, data = _read_yaml(path)
    try:
        return DeviceConfig.model_validate(_merge(base, data))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc)
        where = str(path)
        line = _line_of(text, loc)
        if line is None and defaults is not None:  # the bad key came from the fleet defaults
            line, where = _line_of(base_text, loc), str(defaults)
        if line:
            where = f"{where}:{line}"
        raise ConfigError(f"{where}: key '{key}': {err['msg']}") from exc


def load_fleet(folder: Path) -> list[DeviceConfig]:
    """Every device of a ``firmware-config`` folder (``devices/*.yaml`` over ``fleet.yaml``).

    Raises ConfigError for the first broken file, or when two files claim the same id or a
    file's name does not match its device id (the provisioning tools rely on both).
    """
    configs: list[DeviceConfig] = []
    seen: dict[str, Path] = {}
    defaults = folder / "fleet.yaml"
    for path in sorted((folder / "devices").glob("*.yaml")):
        config = load_device_config(path, defaults=defaults if defaults.exists() else None)
        if config.id != path.stem:
            raise ConfigError(f"{path}: key 'id': {config.id!r} does not match the file name")
        if config.id in seen:
            raise ConfigError(f"{path}: key 'id': {config.id!r} already used by {seen[config.id]}")
        seen[config.id] = path
        configs.append(config)
    return configs


def load_running_config(config_path: Path) -> DeviceConfig:
    """The device file, over the fleet defaults of the release ``current`` points at when
    the device takes releases and that release carries ``config/fleet.yaml`` (else over
    the local defaults). ConfigError for a broken file, the release's included."""
    config = load_device_config(config_path)
    if config.release is None:
        return config
    layout = Layout(config.release.root)
    current = layout.link("current")
    if current is None:
        return config
    fleet = layout.release_dir(current) / "config" / "fleet.yaml"
    if not fleet.is_file():
        return config
    return load_device_config(config_path, defaults=fleet)
