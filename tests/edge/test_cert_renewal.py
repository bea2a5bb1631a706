"""Poles renew their own certificates through the hub, live: real ``trygg edge`` processes
on the real TLS Mosquitto, the hub signing with its issuing CA, and time moving past the
bundles' expiry for real (the bundles' certificates are issued short-lived).

Each pole makes a new key, sends only a request, gets the certificate the hub signed,
reconnects with it and only then makes it the pair in use. After the old certificate has
expired, the broker refuses it, yet the poles, restarted, connect and deliver readings.
The hub refuses requests for another device, garbage, a foreign key type and unregistered
devices, and then signs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.config import CertificateConfig
from edge.provision import Provisioner
from hub.app import Hub
from hub.settings import HubSettings
from tests.edge.secure import SecureStack, fleet_files, lamp_assets
from tests.helpers import build_hub, running, wait_for
from tests.needs import unavailable
from trygg import contract as c
from trygg.clock import SystemClock
from trygg.mqtt import Connection, MqttError, MqttSettings
from trygg.openssl import new_key_and_request, read_certificate, run
from trygg.stack import BrokerAuth, LocalStack, StackError, StackPorts, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TRYGG = str(Path(sys.executable).with_name("trygg"))
ROOT = Path(__file__).resolve().parents[2]
BUNDLE_LIFE = timedelta(seconds=25)  # after the 1-hour backdating: due at once


@contextlib.contextmanager
def renewing_fleet(tmp: Path, poles: list[str]) -> Iterator[SecureStack]:
    """Provisioned poles with short-lived bundle certificates, an issuing CA for the hub,
    and the TLS broker on those files."""
    config_dir = tmp / "firmware-config"
    fleet_files(config_dir, {p: lamp_assets(p, lamps=1, interval_s=0.5) for p in poles})
    prov = Provisioner(config_dir=config_dir, secrets_dir=tmp / "pki")
    now = datetime.now(UTC)
    for pole in poles:
        prov.device(pole, now=now)
        prov.pki.issue(prov.secrets / "devices" / pole, pole, now=now, lifetime=BUNDLE_LIFE)
    prov.issuing_ca(now=now)
    files = prov.broker(now=now)
    tls_port = free_port()
    stack = LocalStack(
        state_dir=tmp / "stack",
        ports=StackPorts(mqtt=free_port(), influx=free_port(), influx_rpc=free_port()),
        auth=BrokerAuth(
            password_file=files.passwd, acl_file=files.acl, cafile=files.cafile,
            certfile=files.certfile, keyfile=files.keyfile, crlfile=files.crlfile,
            tls_port=tls_port,
        ),
    )  # fmt: skip
    try:
        stack.up()
    except StackError as exc:
        unavailable(f"secure stack could not start: {exc}")
    try:
        yield SecureStack(stack, prov, files, tls_port, config_dir)
    finally:
        stack.down()


def signing_hub(sec: SecureStack, tmp: Path, unique: str, registered: list[str]) -> Hub:
    settings: HubSettings = sec.hub(
        tmp,
        unique,
        cert_issuing_dir=str(sec.prov.issuing.folder),
        cert_lifetime_days=1.0,
        cert_request_gap_s=0.0,
        cert_sign_gap_s=0.0,
    )
    return build_hub(settings, SystemClock(), [(d, "solna-centrum") for d in registered])


def spawn(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [TRYGG, "edge", "--config", str(config)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def broker_takes(sec: SecureStack, device: str, cert: Path, key: Path) -> bool:
    """Does the broker accept this certificate and key for ``device`` right now?"""
    settings = MqttSettings(
        host="127.0.0.1", port=sec.tls_port, client_id=f"{device}-probe",
        ca_file=sec.files.cafile, cert_file=cert, key_file=key, keepalive_s=10,
    )  # fmt: skip
    try:
        async with Connection(settings) as conn:
            return await conn.publish_nowait(c.topic_for(device, c.Kind.STATE), b"{}") < 0x80
    except MqttError:
        return False


async def readings(hub: Hub, device: str) -> int:
    return await hub.influx.count(
        f'SELECT count("activePower") FROM "raw"."streetlight" WHERE device=\'{device}\''
    )


async def test_poles_renew_through_the_hub_and_stay_connected_past_the_old_expiry(
    tmp_path: Path, unique: str
) -> None:
    poles = [f"pole-r{unique[:6]}", f"pole-q{unique[:6]}"]
    with renewing_fleet(tmp_path, poles) as sec:
        hub = signing_hub(sec, tmp_path, unique, poles)
        bundles = {p: sec.prov.secrets / "devices" / p for p in poles}
        old_expiry = max(read_certificate(b / f"{p}.crt").not_after for p, b in bundles.items())
        configs = {
            p: sec.write_device_file(
                p,
                tmp_path,
                state_dir=tmp_path / p,
                certificate=CertificateConfig(check_s=0.5, retry_s=5.0),
            )
            for p in poles
        }
        log = tmp_path / "edge.log"
        procs: dict[str, subprocess.Popen[bytes]] = {}
        try:
            async with running(hub.run):
                await asyncio.wait_for(hub.ingest.connected.wait(), timeout=30)
                procs = {p: spawn(configs[p], log) for p in poles}

                async def all_renewed() -> bool:
                    return all((tmp_path / p / "certs" / "current").is_symlink() for p in poles)

                await wait_for(all_renewed, within=60)
                for pole in poles:
                    current = (tmp_path / pole / "certs" / "current").resolve()
                    cert = read_certificate(current / "device.crt")
                    assert cert.subject == f"CN={pole}"
                    assert cert.not_after > old_expiry + timedelta(hours=12)
                    issuer = run("x509", "-in", str(current / "device.crt"), "-noout", "-issuer")
                    assert "Trygg issuing CA" in issuer
                    # the key was made on the pole: the hub's folder holds certificates only
                    keys = [k.name for k in sec.prov.issuing.folder.rglob("*.key")]
                    assert keys == ["ca.key"]
                    assert len(sec.prov.issuing.issued_to(pole)) == 1
                # the poles were switched over without a person: the old bundles lapse
                wait = (old_expiry - datetime.now(UTC)).total_seconds() + 2
                await asyncio.sleep(max(wait, 0))
                for pole, bundle in bundles.items():
                    assert not await broker_takes(
                        sec, pole, bundle / f"{pole}.crt", bundle / f"{pole}.key"
                    ), f"{pole}'s expired bundle certificate still accepted"
                # restarted after the old expiry, each pole connects with what it renewed
                for pole in poles:
                    stop(procs[pole])
                before = {p: await readings(hub, p) for p in poles}
                procs = {p: spawn(configs[p], log) for p in poles}

                async def delivering() -> bool:
                    counts = {p: await readings(hub, p) for p in poles}
                    return all(counts[p] > before[p] + 3 for p in poles)

                await wait_for(delivering, within=60)
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    stop(proc)
        text = log.read_text()
        for pole in poles:
            assert f"{pole}: now connected with the renewed certificate" in text, text[-3000:]


@contextlib.asynccontextmanager
async def as_pole(sec: SecureStack, device: str) -> AsyncIterator[Connection]:
    folder = sec.prov.secrets / "devices" / device
    settings = MqttSettings(
        host="127.0.0.1", port=sec.tls_port, client_id=device, ca_file=sec.files.cafile,
        cert_file=folder / f"{device}.crt", key_file=folder / f"{device}.key", keepalive_s=10,
    )  # fmt: skip
    async with Connection(settings) as conn:
        await conn.subscribe(c.topic_for(device, c.Kind.CERT))
        yield conn


async def ask(conn: Connection, device: str, payload: bytes) -> c.CertReply:
    await conn.publish(c.topic_for(device, c.Kind.CSR), payload)
    async with asyncio.timeout(20):
        while True:
            for msg in await conn.messages():
                reply: c.CertReply = c.decode(c.Kind.CERT, msg.payload)
                return reply


def request(tmp: Path, device: str, common_name: str, *, rsa: bool = False) -> str:
    key, csr = tmp / f"{common_name}-{rsa}.key", tmp / f"{common_name}-{rsa}.csr"
    if rsa:
        run("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
            "-out", str(csr), "-subj", f"/CN={common_name}")  # fmt: skip
    else:
        new_key_and_request(key, csr, common_name)
    return csr.read_text()


def payload(device: str, request_id: str, csr: str) -> bytes:
    return json.dumps(
        {"v": 1, "device": device, "id": request_id, "csr": csr, "ts": 1_800_000_000_000}
    ).encode()


async def test_the_hub_refuses_bad_requests_clearly_and_signs_nothing(
    tmp_path: Path, unique: str
) -> None:
    pole, other, stranger = f"pole-x{unique[:6]}", f"pole-y{unique[:6]}", f"pole-z{unique[:6]}"
    with renewing_fleet(tmp_path, [pole, other, stranger]) as sec:
        hub = signing_hub(sec, tmp_path, unique, [pole, other])  # the stranger is not registered
        async with running(hub.run):
            await asyncio.wait_for(hub.ingest.connected.wait(), timeout=30)
            await asyncio.sleep(1.0)  # the signer's subscription
            async with as_pole(sec, pole) as conn:
                theirs = await ask(conn, pole, payload(pole, "r1", request(tmp_path, pole, other)))
                assert (theirs.id, theirs.ok, theirs.chain) == ("r1", False, None)
                assert f"is not CN={pole}" in theirs.reason

                garbage = "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgcmVxdWVzdA==\n"
                garbage += "-----END CERTIFICATE REQUEST-----\n"
                bad = await ask(conn, pole, payload(pole, "r2", garbage))
                assert (bad.id, bad.ok) == ("r2", False)
                assert bad.reason.startswith("unusable request: openssl req failed")

                shell = await ask(conn, pole, payload(pole, "r3", "rm -rf /; please sign"))
                assert (shell.id, shell.ok) == ("r3", False)
                assert shell.reason.startswith("schema: csr:")

                rsa = await ask(
                    conn, pole, payload(pole, "r4", request(tmp_path, pole, pole, rsa=True))
                )
                assert (rsa.id, rsa.ok) == ("r4", False)
                assert "prime256v1" in rsa.reason
            async with as_pole(sec, stranger) as conn:
                unknown = await ask(
                    conn, stranger, payload(stranger, "r5", request(tmp_path, stranger, stranger))
                )
                assert (unknown.ok, unknown.reason) == (False, "device is not registered")
            assert sec.prov.issuing.issued_to(pole) == []
            assert sec.prov.issuing.issued_to(other) == []
            assert sec.prov.issuing.issued_to(stranger) == []
            # a good request from the same pole is signed: the refusals changed nothing
            async with as_pole(sec, pole) as conn:
                good = await ask(conn, pole, payload(pole, "r6", request(tmp_path, pole, pole)))
                assert (good.id, good.ok, good.reason) == ("r6", True, "")
                assert good.chain is not None
                assert good.chain.count("BEGIN CERTIFICATE") == 2
            assert len(sec.prov.issuing.issued_to(pole)) == 1
