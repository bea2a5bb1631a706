"""Device provisioning: identity, broker credentials and ACL, and the bundle for the Pi.

Layout of the secrets folder (never in the repository)::

    ca/                 the fleet CA (trygg.pki): ca.key, ca.crt, index.txt, crl.pem
    ca/next/            during a CA rollover: the next fleet CA (edge.ca_rollover)
    issuing/            the issuing CA under it, whose key the hub signs renewals with
    issuing/next/       during a CA rollover: the next issuing CA, under ca/next
    issuing/trust.crt   after a rollover began: the CAs the hub tells poles to trust
    broker/             broker.key/.crt, passwd, acl, crl.pem, ca.crt (the trusted CAs:
                        both fleet CAs during a rollover), what Mosquitto reads
    hub/password        the hub's broker password
    devices/<id>/       <id>.key, <id>.crt, password
    bundles/<id>.tar.gz what goes onto the Pi: device.yaml, ca.crt, device.crt/.key, password
    revoked.txt         ids whose credentials were revoked
    public/             certificates and CRL only (no keys), for the hub to watch

The broker's ``passwd`` and ``acl`` are regenerated from ``firmware-config/`` on every
change, so a device exists for the broker only if it has a device file and is not revoked.
After any change send Mosquitto SIGHUP: Mosquitto 2 then re-reads the password file, the
ACL, its certificate and the CRL. Every command takes ``now`` (the CLI passes the clock's),
so the dates in what it signs are explicit.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from edge import broker_files
from edge.config import ConfigError, load_device_config, load_fleet
from trygg.certs import Crl, common_name, crl_needs_resign, renewal_due
from trygg.pki import Pki

log = logging.getLogger(__name__)

HUB_USER = broker_files.HUB_USER
PI_ETC = Path("/etc/trygg")
PENDING = "next.pending"  # the next issuing CA, before the hub may sign with it
# the broker's certificate is renewed with a third of its life left (275 of 825 days)
MAINTAIN_FRACTION = 1 / 3


class ProvisionError(RuntimeError):
    """The device can't be provisioned or revoked (unknown id, broken config, openssl)."""


@dataclass(frozen=True, slots=True)
class CrlStatus:
    crl: Crl
    resigned: bool  # the CA signed a new CRL now
    broker_changed: bool  # the broker's copy changed (Mosquitto must be sent SIGHUP)


@dataclass(frozen=True, slots=True)
class Maintained:
    crl: CrlStatus
    broker_renewed: bool
    notes: tuple[str, ...]  # what needs a person, in words

    @property
    def broker_changed(self) -> bool:
        return self.crl.broker_changed or self.broker_renewed


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
        self.issuing = Pki(secrets_dir / "issuing")
        self.broker_host = broker_host

    # ---- state ---------------------------------------------------------------------
    def revoked(self) -> set[str]:
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

    def roots(self) -> list[Pki]:
        """The fleet CAs trusted now: the fleet CA, and the next one during a rollover."""
        return [self.pki, self.pki.next] if self.pki.next.exists() else [self.pki]

    def other_cas(self) -> list[Pki]:
        """Every CA besides the fleet CA whose CRL the broker must hold: the issuing CA,
        and during a rollover the next fleet CA and the next issuing CA (also before the
        hub may sign with it, so the broker knows its CRL first)."""
        return [self.pki.next, self.issuing, self.issuing.next, self.issuing_pending]

    @property
    def issuing_pending(self) -> Pki:
        """The next issuing CA between ``ca-rollover start`` and ``activate``."""
        return Pki(self.issuing.folder / PENDING)

    def leaf_ca(self) -> Pki:
        """The CA that signs new bundle certificates: the next one during a rollover."""
        return self.pki.next if self.pki.next.exists() else self.pki

    def trust_text(self) -> str:
        """PEM of every fleet CA trusted now (the broker's, the hub's and new bundles' CA
        file)."""
        return "".join(p.ca_crt.read_text() for p in self.roots())

    def hub_password(self) -> str:
        return self._secret(self.secrets / "hub" / "password")

    def _check_id(self, device: str) -> None:
        reason = broker_files.reserved(device)
        if reason is not None:
            raise ProvisionError(f"{device!r} is reserved: {reason}; choose another device id")

    # ---- commands ------------------------------------------------------------------
    def device(self, device: str, *, now: datetime | None = None) -> Path:
        """Key, certificate and password for ``device``; regenerate the broker files; write
        and return the bundle. Raises ProvisionError for a reserved id or an id without a
        device file, before anything is written."""
        now = now or _utcnow()
        self._check_id(device)
        path = self.config_dir / "devices" / f"{device}.yaml"
        if not path.exists():
            raise ProvisionError(f"no device file {path}: add the device to firmware-config first")
        try:
            config = load_device_config(path)
        except ConfigError as exc:
            raise ProvisionError(str(exc)) from exc
        if device in self.revoked():
            raise ProvisionError(f"{device} was revoked; give the replacement a new id")
        self.pki.ensure_ca(now=now)
        folder = self._device_dir(device)
        if not (folder / f"{device}.crt").exists():
            self.leaf_ca().issue(folder, device, now=now)
        self._secret(folder / "password")
        self.broker(now=now)
        return self._bundle(device, path, config.broker.host)

    def renew(self, device: str, *, now: datetime | None = None) -> Path:
        """A new key and certificate for a provisioned device, and its new bundle. The old
        certificate stays valid (the pole keeps connecting with it until the new bundle is
        installed); :meth:`retire` revokes it afterwards."""
        now = now or _utcnow()
        self._check_id(device)
        folder = self._device_dir(device)
        crt = folder / f"{device}.crt"
        if not crt.exists():
            raise ProvisionError(f"{device} was never provisioned here (or was revoked)")
        config_path = self.config_dir / "devices" / f"{device}.yaml"
        try:
            config = load_device_config(config_path)
        except (ConfigError, OSError) as exc:
            raise ProvisionError(f"{config_path}: {exc}") from exc
        superseded = folder / "superseded"
        superseded.mkdir(exist_ok=True)
        old = superseded / f"{Pki.serial_of(crt)}.crt"
        shutil.copy(crt, old)
        self.leaf_ca().issue(folder, device, now=now)
        self.broker(now=now)
        log.info("%s: renewed; superseded certificate %s stays valid until retired", device, old)
        return self._bundle(device, config_path, config.broker.host)

    def retire(self, device: str, *, now: datetime | None = None) -> list[str]:
        """Revoke the certificates a renewal of ``device`` superseded (once the pole runs on
        its new bundle). Returns their serials; an empty list when there were none."""
        now = now or _utcnow()
        self._check_id(device)
        superseded = self._device_dir(device) / "superseded"
        old = sorted(superseded.glob("*.crt")) if superseded.exists() else []
        if not old:
            return []
        current = self._device_dir(device) / f"{device}.crt"
        if current.exists() and Pki.serial_of(current) in {p.stem for p in old}:
            raise ProvisionError(f"{device}: the current certificate is listed as superseded")
        archive = self.secrets / "revoked" / device
        archive.mkdir(parents=True, exist_ok=True)
        for crt in old:
            self._revoke_any(crt, now=now)
            shutil.move(str(crt), archive / crt.name)
        superseded.rmdir()
        self.broker(now=now)
        return [p.stem for p in old]

    def revoke(self, device: str, *, now: datetime | None = None) -> None:
        """CRL entry for the device's certificate, credentials removed, broker files rewritten.
        Reserved ids are accepted here: an older version may have issued one."""
        now = now or _utcnow()
        folder = self._device_dir(device)
        crt = folder / f"{device}.crt"
        if not crt.exists() and device not in self.revoked():
            raise ProvisionError(f"{device} was never provisioned here")
        archive = self.secrets / "revoked" / device
        for old in sorted((folder / "superseded").glob("*.crt")):
            self._revoke_any(old, now=now)
            archive.mkdir(parents=True, exist_ok=True)
            shutil.move(str(old), archive / old.name)
        if crt.exists():
            self._revoke_any(crt, now=now)
            archive.mkdir(parents=True, exist_ok=True)
            shutil.move(str(crt), archive / crt.name)  # kept for audit; the key is destroyed
        for issuing in (self.issuing, self.issuing.next):
            for renewed in issuing.issued_to(device) if issuing.exists() else []:
                # what the hub signed when the pole renewed itself
                issuing.revoke(renewed, now=now)
        shutil.rmtree(folder, ignore_errors=True)
        (self.secrets / "bundles" / f"{device}.tar.gz").unlink(missing_ok=True)
        revoked = self.revoked() | {device}
        (self.secrets / "revoked.txt").write_text("".join(f"{d}\n" for d in sorted(revoked)))
        self.broker(now=now)

    def _revoke_any(self, crt: Path, *, now: datetime) -> None:
        """Revoke ``crt`` with whichever fleet CA (old or next) signed it."""
        serial = Pki.serial_of(crt)
        for root in self.roots():
            kept = root.folder / "newcerts" / f"{serial}.pem"
            if kept.exists() and kept.read_text() == crt.read_text():
                root.revoke(crt, now=now)
                return
        self.pki.revoke(crt, now=now)

    def renew_broker(self, *, now: datetime | None = None) -> BrokerFiles:
        """A new key and certificate for the broker; the old one goes on the CRL (nothing
        but this broker used it). Send Mosquitto SIGHUP afterwards to serve the new one."""
        now = now or _utcnow()
        crt = self.secrets / "broker" / "broker.crt"
        if not crt.exists() or not self.pki.exists():
            raise ProvisionError("no broker certificate here yet: run `trygg provision broker`")
        old = self.secrets / "revoked" / "broker"
        old.mkdir(parents=True, exist_ok=True)
        current = Pki.certificate(crt)
        kept = old / f"{current.serial}.crt"
        shutil.copy(crt, kept)
        # the same name as before, whatever --broker-host says: poles check it
        self.issue_broker(now=now, host=common_name(current.subject))
        self.pki.revoke(kept, now=now)
        return self.broker(now=now)

    def issuing_ca(self, *, now: datetime | None = None) -> Path:
        """Create the issuing CA under the fleet CA (once) and add its CRL to the broker's;
        returns its folder, which the hub's ``TRYGG_CERT_ISSUING_DIR`` names."""
        now = now or _utcnow()
        self.pki.ensure_ca(now=now)
        if self.issuing.ensure_issuing(self.pki, now=now):
            log.info("issuing CA created in %s", self.issuing.folder)
        self.broker(now=now)
        return self.issuing.folder

    def crl(self, *, now: datetime | None = None, force: bool = False) -> CrlStatus:
        """Re-sign the CRL (and the issuing CA's) when less than half its validity is left
        (or ``force``), and bring the broker's copy up to date. Never creates a CA:
        ProvisionError without one."""
        now = now or _utcnow()
        if not self.pki.exists():
            raise ProvisionError(f"no CA in {self.pki.folder}: run `trygg provision broker` first")
        current = self.pki.current_crl()
        resigned = force or crl_needs_resign(current, now)
        if resigned:
            current = self.pki.update_crl(now=now)
        for other in self.other_cas():
            if other.exists() and (force or crl_needs_resign(other.current_crl(), now)):
                other.update_crl(now=now)
                resigned = True
        assert current is not None  # update_crl read it back, or it was readable
        out = self.secrets / "broker" / "crl.pem"
        text = self._crl_bundle()
        changed = not out.exists() or out.read_text() != text
        if changed:
            out.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(out, text)
        self._publish()
        return CrlStatus(crl=current, resigned=resigned, broker_changed=changed)

    def maintain(self, *, now: datetime | None = None) -> Maintained:
        """What a timer runs daily: the CRLs re-signed when half their life is gone, and the
        broker's certificate renewed once a third of its life is left. What it cannot do
        alone (a CA near its end) is returned as notes."""
        now = now or _utcnow()
        status = self.crl(now=now)
        broker = self.secrets / "broker" / "broker.crt"
        renewed = False
        if broker.exists():
            cert = Pki.certificate(broker)
            if renewal_due(cert.not_before, cert.not_after, now, fraction=MAINTAIN_FRACTION):
                self.renew_broker(now=now)
                renewed = True
        notes = []
        if self.pki.next.exists():
            notes.append("a CA rollover is under way: see `trygg provision ca-rollover status`")
        for name, pki in (("fleet CA", self.pki), ("issuing CA", self.issuing)):
            if pki.exists() and not pki.next.exists():
                cert = Pki.certificate(pki.ca_crt)
                if renewal_due(cert.not_before, cert.not_after, now, fraction=MAINTAIN_FRACTION):
                    notes.append(f"{name} expires {cert.not_after:%Y-%m-%d}: plan its rollover")
        return Maintained(crl=status, broker_renewed=renewed, notes=tuple(notes))

    def issue_broker(self, *, now: datetime, host: str | None = None) -> None:
        host = host or self.broker_host
        self.pki.issue(
            self.secrets / "broker",
            host,
            now=now,
            server=True,
            sans=(f"DNS:{host}", "DNS:localhost", "IP:127.0.0.1"),
        )

    def broker(self, *, now: datetime | None = None) -> BrokerFiles:
        """(Re)generate everything Mosquitto reads, from firmware-config and the secrets."""
        now = now or _utcnow()
        self.pki.ensure_ca(now=now)
        out = self.secrets / "broker"
        out.mkdir(parents=True, exist_ok=True)
        if not (out / "broker.crt").exists():
            self.issue_broker(now=now)
        try:
            fleet = load_fleet(self.config_dir)
        except ConfigError as exc:
            raise ProvisionError(str(exc)) from exc
        revoked = self.revoked()
        devices = []
        for c in fleet:
            if c.id in revoked or not (self._device_dir(c.id) / "password").exists():
                continue
            if broker_files.reserved(c.id) is not None:
                # a record left by an older version must never replace the hub's login
                log.warning("%s: reserved id, left out of the broker files", c.id)
                continue
            devices.append(c.id)
        hashes = {
            HUB_USER: broker_files.password_hash(self.hub_password(), secrets.token_bytes(12))
        }
        for device in devices:
            pw = (self._device_dir(device) / "password").read_text().strip()
            hashes[device] = broker_files.password_hash(pw, secrets.token_bytes(12))
        files = BrokerFiles(
            passwd=out / "passwd",
            acl=out / "acl",
            cafile=out / "ca.crt",
            certfile=out / "broker.crt",
            keyfile=out / "broker.key",
            crlfile=out / "crl.pem",
        )
        _atomic_write(files.passwd, broker_files.password_file(hashes), mode=0o640)
        _atomic_write(files.acl, broker_files.acl(devices, hub_user=HUB_USER))
        _atomic_write(files.crlfile, self._crl_bundle())
        _atomic_write(files.cafile, self.trust_text())
        self._publish()
        log.info("broker files: %d device(s), %d revoked", len(devices), len(revoked))
        return files

    def _crl_bundle(self) -> str:
        """The CRLs Mosquitto checks: the fleet CA's, and the issuing CA's (a certificate
        the hub signed is refused when its issuer's CRL is missing)."""
        text = self.pki.crl.read_text()
        for other in self.other_cas():
            if other.exists() and other.crl.exists():
                text += other.crl.read_text()
        return text

    def _publish(self) -> None:
        """Copies of every certificate and the CRL, without keys, in ``public/``: what the
        hub may read to warn before anything expires."""
        public = self.secrets / "public"
        (public / "devices").mkdir(parents=True, exist_ok=True)
        public.chmod(0o755)
        (public / "devices").chmod(0o755)
        wanted = {
            public / "ca.crt": self.pki.ca_crt,
            public / "crl.pem": self.pki.crl,
            public / "broker.crt": self.secrets / "broker" / "broker.crt",
            public / "issuing-ca.crt": self.issuing.ca_crt,
            public / "issuing-crl.pem": self.issuing.crl,
            public / "ca-next.crt": self.pki.next.ca_crt,
            public / "crl-next.pem": self.pki.next.crl,
            public / "issuing-ca-next.crt": self.issuing.next.ca_crt,
            public / "issuing-crl-next.pem": self.issuing.next.crl,
        }
        devices = self.secrets / "devices"
        if devices.exists():
            for folder in sorted(devices.iterdir()):
                crt = folder / f"{folder.name}.crt"
                if crt.exists():
                    wanted[public / "devices" / crt.name] = crt
                for old in sorted((folder / "superseded").glob("*.crt")):
                    wanted[public / "devices" / f"{folder.name}.{old.name}"] = old
        for target, source in wanted.items():
            # rewritten only when changed, so the hub re-reads only what changed
            if source.exists() and (
                not target.exists() or target.read_text() != source.read_text()
            ):
                _atomic_write(target, source.read_text())
        for stale in (public / "devices").glob("*.crt"):
            if stale not in wanted:
                stale.unlink()
        for target, source in wanted.items():
            if not source.exists():  # a next CA that became the CA, or never was
                target.unlink(missing_ok=True)

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
        (staging / "ca.crt").write_text(self.trust_text())
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


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _atomic_write(path: Path, text: str, *, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)
