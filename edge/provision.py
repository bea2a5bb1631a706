"""Device provisioning: identity, broker credentials and ACL, and the bundle for the Pi.

Layout of the secrets folder (never in the repository)::

    ca/                 the fleet CA (edge.pki): ca.key, ca.crt, index.txt, crl.pem
    broker/             server.key/.crt, passwd, acl, crl.pem  (what Mosquitto reads)
    hub/password        the hub's broker password
    devices/<id>/       <id>.key, <id>.crt, password
    bundles/<id>.tar.gz what goes onto the Pi: device.yaml, ca.crt, device.crt/.key, password
    revoked.txt         ids whose credentials were revoked

The broker's ``passwd`` and ``acl`` are regenerated from ``firmware-config/`` on every
change, so a device exists for the broker only if it has a device file and is not revoked.
After ``revoke``, send Mosquitto SIGHUP (passwords, ACL) and restart it (CRL).
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from edge import broker_files
from edge.config import ConfigError, load_device_config, load_fleet
from edge.pki import Pki

log = logging.getLogger(__name__)

HUB_USER = "trygg-hub"
PI_ETC = Path("/etc/trygg")


class ProvisionError(RuntimeError):
    """The device can't be provisioned or revoked (unknown id, broken config, openssl)."""


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    passwd: Path
    acl: Path
    cafile: Path
    certfile: Path
    keyfile: Path
    crlfile: Path


class Provisioner:
    def __init__(
        self, *, config_dir: Path, secrets_dir: Path, broker_host: str = "localhost"
    ) -> None:
        self.config_dir = config_dir
        self.secrets = secrets_dir
        self.pki = Pki(secrets_dir / "ca")
        self.broker_host = broker_host

    # ---- state ---------------------------------------------------------------------
    def _revoked(self) -> set[str]:
        path = self.secrets / "revoked.txt"
        return set(path.read_text().split()) if path.exists() else set()

    def _device_dir(self, device: str) -> Path:
        return self.secrets / "devices" / device

    def _secret(self, path: Path) -> str:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(24) + "\n")
            path.chmod(0o600)
        return path.read_text().strip()

    def hub_password(self) -> str:
        return self._secret(self.secrets / "hub" / "password")

    # ---- commands ------------------------------------------------------------------
    def device(self, device: str) -> Path:
        """Key, certificate and password for ``device``; regenerate the broker files; write
        and return the bundle. Raises ProvisionError for an id without a device file."""
        path = self.config_dir / "devices" / f"{device}.yaml"
        if not path.exists():
            raise ProvisionError(f"no device file {path}: add the device to firmware-config first")
        try:
            config = load_device_config(path)
        except ConfigError as exc:
            raise ProvisionError(str(exc)) from exc
        if device in self._revoked():
            raise ProvisionError(f"{device} was revoked; give the replacement a new id")
        self.pki.ensure_ca()
        folder = self._device_dir(device)
        if not (folder / f"{device}.crt").exists():
            self.pki.issue(folder, device)
        self._secret(folder / "password")
        self.broker()
        return self._bundle(device, path, config.broker.host)

    def revoke(self, device: str) -> None:
        """CRL entry for the device's certificate, credentials removed, broker files rewritten."""
        folder = self._device_dir(device)
        crt = folder / f"{device}.crt"
        if not crt.exists() and device not in self._revoked():
            raise ProvisionError(f"{device} was never provisioned here")
        if crt.exists():
            self.pki.revoke(crt)
            archive = self.secrets / "revoked" / device
            archive.mkdir(parents=True, exist_ok=True)
            shutil.move(str(crt), archive / crt.name)  # kept for audit; the key is destroyed
        shutil.rmtree(folder, ignore_errors=True)
        (self.secrets / "bundles" / f"{device}.tar.gz").unlink(missing_ok=True)
        revoked = self._revoked() | {device}
        (self.secrets / "revoked.txt").write_text("".join(f"{d}\n" for d in sorted(revoked)))
        self.broker()

    def broker(self) -> BrokerFiles:
        """(Re)generate everything Mosquitto reads, from firmware-config and the secrets."""
        self.pki.ensure_ca()
        out = self.secrets / "broker"
        out.mkdir(parents=True, exist_ok=True)
        if not (out / "broker.crt").exists():
            self.pki.issue(
                out,
                self.broker_host,
                server=True,
                sans=(f"DNS:{self.broker_host}", "DNS:localhost", "IP:127.0.0.1"),
            )
        try:
            fleet = load_fleet(self.config_dir)
        except ConfigError as exc:
            raise ProvisionError(str(exc)) from exc
        revoked = self._revoked()
        devices = [
            c.id
            for c in fleet
            if c.id not in revoked and (self._device_dir(c.id) / "password").exists()
        ]
        hashes = {
            HUB_USER: broker_files.password_hash(self.hub_password(), secrets.token_bytes(12))
        }
        for device in devices:
            pw = (self._device_dir(device) / "password").read_text().strip()
            hashes[device] = broker_files.password_hash(pw, secrets.token_bytes(12))
        files = BrokerFiles(
            passwd=out / "passwd",
            acl=out / "acl",
            cafile=self.pki.ca_crt,
            certfile=out / "broker.crt",
            keyfile=out / "broker.key",
            crlfile=out / "crl.pem",
        )
        _atomic_write(files.passwd, broker_files.password_file(hashes), mode=0o640)
        _atomic_write(files.acl, broker_files.acl(devices, hub_user=HUB_USER))
        _atomic_write(files.crlfile, self.pki.crl.read_text())
        log.info("broker files: %d device(s), %d revoked", len(devices), len(revoked))
        return files

    def _bundle(self, device: str, config_path: Path, host: str) -> Path:
        """A tarball to unpack into /etc/trygg on the Pi (paths in device.yaml point there)."""
        folder = self._device_dir(device)
        fleet_path = self.config_dir / "fleet.yaml"
        merged: dict[str, object] = {}
        if fleet_path.exists():
            merged = yaml.safe_load(fleet_path.read_text()) or {}
        device_data = yaml.safe_load(config_path.read_text()) or {}
        merged = {**merged, **device_data}
        broker = dict(merged.get("broker") or {})  # type: ignore[call-overload]
        broker.update(
            {
                "host": host,
                "ca_file": str(PI_ETC / "ca.crt"),
                "cert_file": str(PI_ETC / "device.crt"),
                "key_file": str(PI_ETC / "device.key"),
            }
        )
        merged["broker"] = broker
        out = self.secrets / "bundles" / f"{device}.tar.gz"
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = self.secrets / "bundles" / f".{device}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        (staging / "device.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
        shutil.copy(self.pki.ca_crt, staging / "ca.crt")
        shutil.copy(folder / f"{device}.crt", staging / "device.crt")
        shutil.copy(folder / f"{device}.key", staging / "device.key")
        shutil.copy(folder / "password", staging / "broker.password")
        with tarfile.open(out, "w:gz") as tar:
            for item in sorted(staging.iterdir()):
                info = tar.gettarinfo(str(item), arcname=item.name)
                info.mode = 0o600 if item.suffix in (".key", ".password") else 0o644
                with item.open("rb") as fh:
                    tar.addfile(info, fh)
        shutil.rmtree(staging)
        out.chmod(0o600)
        return out


def _atomic_write(path: Path, text: str, *, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)
