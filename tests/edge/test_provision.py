"""Provisioning against the real broker: TLS identity, ACLs, and revocation."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge import broker_files
from edge.provision import HUB_USER, Provisioner, ProvisionError
from tests.edge.secure import lamp_assets, secure_stack
from trygg import contract as c
from trygg.mqtt import Connection, MqttError, MqttSettings

pytestmark = pytest.mark.integration


def test_password_hash_is_what_mosquitto_passwd_writes() -> None:
    # mosquitto_passwd 2.0.11 wrote this line for user dev1, password "secret"
    line = (
        "$7$101$aTi2aY1DC1QBDwgJ$cUWcA7m5ZIuYcqWqsfzEJH+vpC7kx+6yCDOxMr6zX9lCpQ/Q8Di9DBkESn+1g8Bh"
        "bewQXmPssOEMpQdVbp0JXg=="
    )
    import base64

    salt = base64.b64decode(line.split("$")[3])
    assert broker_files.password_hash("secret", salt) == line


def test_acl_lets_a_device_write_only_its_own_topics() -> None:
    text = broker_files.acl(["pole-1"], hub_user="hub")
    assert "topic write trygg/v1/dev/pole-1/data" in text
    assert "topic read trygg/v1/dev/pole-1/cmd" in text
    assert "pole-2" not in text
    assert "topic write trygg/v1/dev/pole-1/cmd\n" not in text  # commands come from the hub


def test_unknown_device_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "cfg" / "devices").mkdir(parents=True)
    prov = Provisioner(config_dir=tmp_path / "cfg", secrets_dir=tmp_path / "s")
    with pytest.raises(ProvisionError, match="no device file"):
        prov.device("pole-x")
    assert not (tmp_path / "s").exists()
    with pytest.raises(ProvisionError, match="never provisioned"):
        prov.revoke("pole-x")


def _tls(sec: object, device: str, port: int, key_dir: Path, cafile: Path) -> MqttSettings:
    return MqttSettings(
        host="127.0.0.1",
        port=port,
        client_id=device,
        ca_file=cafile,
        cert_file=key_dir / f"{device}.crt",
        key_file=key_dir / f"{device}.key",
        keepalive_s=10,
    )


async def test_provisioned_device_connects_acl_holds_and_revoked_device_cannot(
    tmp_path: Path,
) -> None:
    devices = {"pole-a1": lamp_assets("pole-a1"), "pole-a2": lamp_assets("pole-a2")}
    with secure_stack(tmp_path, devices) as sec:
        bundle = sec.prov.secrets / "bundles" / "pole-a1.tar.gz"
        with tarfile.open(bundle) as tar:
            assert sorted(tar.getnames()) == [
                "broker.password",
                "ca.crt",
                "device.crt",
                "device.key",
                "device.yaml",
            ]
            assert tar.getmember("device.key").mode == 0o600
        keys = sec.prov.secrets / "devices"
        a1 = _tls(sec, "pole-a1", sec.tls_port, keys / "pole-a1", sec.files.cafile)
        async with Connection(a1) as conn:
            ok = await conn.publish_nowait(c.topic_for("pole-a1", c.Kind.CMD_RESULT), b"{}")
            assert ok < 0x80
            # ACL: another device's topic is refused with a visible v5 reason code
            assert await conn.publish_nowait(c.topic_for("pole-a2", c.Kind.DATA), b"{}") == 0x87
        async with Connection(a1) as conn:
            # its own command topic (read-only for it): mosquitto 2.0.11 refuses the write
            # and drops the connection, so a device can't forge commands to itself either
            try:
                code = await conn.publish_nowait(c.topic_for("pole-a1", c.Kind.CMD), b"{}")
            except MqttError:
                code = 0x87  # refused by dropping the connection
            assert code >= 0x80
        # the same device by password on the plain listener
        password = (keys / "pole-a2" / "password").read_text().strip()
        plain = MqttSettings(
            host="127.0.0.1",
            port=sec.stack.ports.mqtt,
            client_id="pole-a2",
            username="pole-a2",
            password=password,
        )
        async with Connection(plain):
            pass
        with pytest.raises(MqttError):
            async with Connection(
                MqttSettings(
                    host="127.0.0.1",
                    port=sec.stack.ports.mqtt,
                    client_id="x",
                    username="pole-a2",
                    password="wrong",
                )
            ):
                pass

        # keep copies of a1's credentials, as a thief of the Pi would have them
        stolen = tmp_path / "stolen"
        stolen.mkdir()
        for name in ("pole-a1.crt", "pole-a1.key", "password"):
            (stolen / name).write_bytes((keys / "pole-a1" / name).read_bytes())
        sec.prov.revoke("pole-a1")
        assert not (keys / "pole-a1").exists()
        assert "pole-a1" not in sec.files.passwd.read_text()
        assert "user pole-a1" not in sec.files.acl.read_text()
        await asyncio.to_thread(sec.stack.mosquitto.stop)  # CRL is read at start
        await asyncio.to_thread(sec.stack.mosquitto.start)
        with pytest.raises(MqttError):
            async with Connection(_tls(sec, "pole-a1", sec.tls_port, stolen, sec.files.cafile)):
                pass
        stolen_pw = (stolen / "password").read_text().strip()
        with pytest.raises(MqttError):
            async with Connection(
                MqttSettings(
                    host="127.0.0.1",
                    port=sec.stack.ports.mqtt,
                    client_id="pole-a1",
                    username="pole-a1",
                    password=stolen_pw,
                )
            ):
                pass
        # the other device is unaffected
        a2 = _tls(sec, "pole-a2", sec.tls_port, keys / "pole-a2", sec.files.cafile)
        async with Connection(a2):
            pass
        with pytest.raises(ProvisionError, match="revoked"):
            sec.prov.device("pole-a1")


async def test_reserved_ids_are_refused_and_the_hub_keeps_its_login(tmp_path: Path) -> None:
    with secure_stack(tmp_path, {"pole-r1": lamp_assets("pole-r1")}) as sec:
        hub = MqttSettings(
            host="127.0.0.1",
            port=sec.stack.ports.mqtt,
            client_id="trygg-hub-1",
            username=HUB_USER,
            password=sec.prov.hub_password(),
        )
        async with Connection(hub):
            pass
        secrets_before = {
            p: p.read_bytes() for p in sorted(sec.prov.secrets.rglob("*")) if p.is_file()
        }
        for reserved in (HUB_USER, "trygg-hub-1", "trygg-hub-sim"):
            (sec.config_dir / "devices" / f"{reserved}.yaml").write_text(
                f"id: {reserved}\n{lamp_assets(reserved)}"
            )
            with pytest.raises(ProvisionError, match="reserved"):
                sec.prov.device(reserved)
            out = await asyncio.to_thread(
                subprocess.run,
                [str(Path(sys.executable).with_name("trygg")), "provision", "device", reserved,
                 "--secrets", str(sec.prov.secrets), "--config-dir", str(sec.config_dir)],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert out.returncode == 1
            assert "is reserved" in out.stderr
        after = {p: p.read_bytes() for p in sorted(sec.prov.secrets.rglob("*")) if p.is_file()}
        assert after == secrets_before  # nothing written, nothing replaced
        # a record an older version left behind never reaches the broker's files
        stale = sec.prov.secrets / "devices" / HUB_USER
        stale.mkdir()
        (stale / "password").write_text("device-password\n")
        files = sec.prov.broker()
        assert (
            sum(line.startswith(f"{HUB_USER}:") for line in files.passwd.read_text().splitlines())
            == 1
        )
        assert files.acl.read_text().count(f"user {HUB_USER}\n") == 1
        await asyncio.to_thread(sec.stack.mosquitto.stop)
        await asyncio.to_thread(sec.stack.mosquitto.start)
        async with Connection(hub):
            pass
        with pytest.raises(MqttError):
            async with Connection(
                MqttSettings(
                    host="127.0.0.1",
                    port=sec.stack.ports.mqtt,
                    client_id="x",
                    username=HUB_USER,
                    password="device-password",
                )
            ):
                pass


def test_a_reserved_id_an_older_version_issued_can_still_be_revoked(tmp_path: Path) -> None:
    (tmp_path / "cfg" / "devices").mkdir(parents=True)
    prov = Provisioner(config_dir=tmp_path / "cfg", secrets_dir=tmp_path / "s")
    prov.broker()
    folder = prov.secrets / "devices" / HUB_USER
    prov.pki.issue(folder, HUB_USER, now=datetime.now(UTC))  # what the old code did
    serial = prov.pki.serial_of(folder / f"{HUB_USER}.crt")
    prov.revoke(HUB_USER)
    assert serial in prov.pki.revoked_serials()
    assert not folder.exists()
