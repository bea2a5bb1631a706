"""A private broker with TLS, client certificates, passwords, ACLs and a CRL, provisioned
from a temporary firmware-config by the real ``edge.provision`` (helpers for edge tests)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from edge.config import DeviceConfig, load_device_config
from edge.provision import HUB_USER, BrokerFiles, Provisioner
from hub.settings import HubSettings
from tests.helpers import hub_settings
from tests.needs import unavailable
from trygg.stack import BrokerAuth, LocalStack, StackError, StackPorts, free_port


@dataclass
class SecureStack:
    stack: LocalStack
    prov: Provisioner
    files: BrokerFiles
    tls_port: int
    config_dir: Path

    def hub(self, tmp: Path, unique: str, **over: object) -> HubSettings:
        return hub_settings(
            self.stack,
            tmp,
            unique,
            mqtt_username=HUB_USER,
            mqtt_password=self.prov.hub_password(),
            **over,
        )

    def device_config(self, device: str, **over: object) -> DeviceConfig:
        """The provisioned device's config, pointed at the TLS listener."""
        path = self.config_dir / "devices" / f"{device}.yaml"
        config = load_device_config(path)
        folder = self.prov.secrets / "devices" / device
        broker = config.broker.model_copy(
            update={
                "host": "127.0.0.1",
                "port": self.tls_port,
                "ca_file": self.files.cafile,
                "cert_file": folder / f"{device}.crt",
                "key_file": folder / f"{device}.key",
            }
        )
        return config.model_copy(update={"broker": broker, **over})

    def write_device_file(self, device: str, tmp: Path, **over: object) -> Path:
        """A standalone YAML for ``python -m edge --config`` (no fleet defaults beside it)."""
        config = self.device_config(device, **over)
        path = tmp / f"{device}-run" / "device.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
        return path


def fleet_files(config_dir: Path, devices: dict[str, str]) -> None:
    """``devices``: id -> YAML of its assets section."""
    (config_dir / "devices").mkdir(parents=True, exist_ok=True)
    (config_dir / "fleet.yaml").write_text(
        "site: solna-centrum\nheartbeat_s: 60\n"
        "broker: {reconnect_min_s: 0.2, reconnect_max_s: 1.0, keepalive_s: 10}\n"
        "outbox: {flush_s: 0.2, ack_timeout_s: 3.0, synchronous: NORMAL}\n"
    )
    for device, assets in devices.items():
        (config_dir / "devices" / f"{device}.yaml").write_text(f"id: {device}\n{assets}")


def lamp_assets(device: str, *, lamps: int = 2, interval_s: float = 0.1) -> str:
    out = "assets:\n"
    for i in range(lamps):
        out += (
            f"  - id: {device}-lamp{i}\n    kind: streetlight\n    lat: 59.36\n    lon: 18.0\n"
            f"    sensors:\n      - {{type: sim_lamp, id: lamp, interval_s: {interval_s}}}\n"
        )
    return out


@contextlib.contextmanager
def secure_stack(tmp: Path, devices: dict[str, str]) -> Iterator[SecureStack]:
    config_dir = tmp / "firmware-config"
    fleet_files(config_dir, devices)
    prov = Provisioner(config_dir=config_dir, secrets_dir=tmp / "secrets")
    for device in devices:
        prov.device(device)
    files = prov.broker()
    tls_port = free_port()
    auth = BrokerAuth(
        password_file=files.passwd,
        acl_file=files.acl,
        cafile=files.cafile,
        certfile=files.certfile,
        keyfile=files.keyfile,
        crlfile=files.crlfile,
        tls_port=tls_port,
    )
    stack = LocalStack(
        state_dir=tmp / "stack",
        ports=StackPorts(mqtt=free_port(), influx=free_port(), influx_rpc=free_port()),
        auth=auth,
    )
    try:
        stack.up()
    except StackError as exc:
        unavailable(f"secure stack could not start: {exc}")
    try:
        yield SecureStack(stack, prov, files, tls_port, config_dir)
    finally:
        stack.down()
