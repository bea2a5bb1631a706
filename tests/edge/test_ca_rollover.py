"""The fleet CA rolls over with an overlap, live: real ``trygg edge`` processes on the
real TLS Mosquitto, the hub signing with its issuing CA, and the operator's commands
(``trygg provision ca-rollover start|status|finish``) run as the CLI.

After ``start`` the broker trusts both CAs; the hub asks every pole to renew, signs with
the next issuing CA, and sends the new CA with a chain that the old one vouches for; each
pole keeps it with its new certificate. ``finish`` refuses while a pole is left behind,
and with ``--force`` retires the old CA and gives the broker a certificate from the new
one: the poles that moved reconnect and deliver; the one that missed the overlap is
refused, and says why in its log.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge import ca_rollover
from edge.config import CertificateConfig
from edge.provision import Provisioner
from tests.edge.test_cert_renewal import (
    TRYGG,
    readings,
    renewing_fleet,
    spawn,
    stop,
)
from tests.helpers import build_hub, running, wait_for
from trygg.certs import split_pem
from trygg.clock import SystemClock
from trygg.openssl import read_certificate, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def rollover(prov: Provisioner, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TRYGG, "provision", "ca-rollover", *args, "--secrets", str(prov.secrets),
         "--config-dir", str(prov.config_dir)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def issuer(crt: Path) -> str:
    return run("x509", "-in", str(crt), "-noout", "-issuer", "-nameopt", "RFC2253").strip()


async def test_poles_move_to_the_new_ca_during_the_overlap_and_a_missed_one_is_named(
    tmp_path: Path, unique: str
) -> None:
    moving = [f"pole-m{unique[:6]}", f"pole-n{unique[:6]}"]
    away = f"pole-o{unique[:6]}"  # switched off for the whole overlap
    poles = [*moving, away]
    with renewing_fleet(tmp_path, poles) as sec:
        prov = sec.prov
        # the poles start from their bundles: long-lived certificates, the old CA only
        for pole in poles:
            prov.pki.issue(prov.secrets / "devices" / pole, pole, now=datetime.now(UTC))
        old_root = prov.pki.ca_crt.read_text()
        configs = {}
        for pole in poles:
            ca = tmp_path / f"{pole}-bundle-ca.crt"  # the copy a Pi's bundle holds
            shutil.copy(sec.files.cafile, ca)
            config = sec.write_device_file(
                pole,
                tmp_path,
                state_dir=tmp_path / pole,
                certificate=CertificateConfig(check_s=0.5, retry_s=3.0),
            )
            config.write_text(config.read_text().replace(str(sec.files.cafile), str(ca)))
            configs[pole] = config
        assert split_pem((tmp_path / f"{away}-bundle-ca.crt").read_text()) == [old_root]
        settings = sec.hub(
            tmp_path,
            unique,
            cert_issuing_dir=str(prov.issuing.folder),
            cert_lifetime_days=30.0,
            cert_request_gap_s=0.0,
            cert_sign_gap_s=0.0,
            cert_check_s=0.5,  # how soon the hub asks the poles to move
        )
        hub = build_hub(settings, SystemClock(), [(p, "solna-centrum") for p in poles])
        pid = tmp_path / "mosquitto.pid"
        log = tmp_path / "edge.log"
        procs: dict[str, subprocess.Popen[bytes]] = {}
        try:
            async with running(hub.run):
                await asyncio.wait_for(hub.ingest.connected.wait(), timeout=30)
                procs = {p: spawn(configs[p], log) for p in moving}

                async def delivering(since: dict[str, int]) -> bool:
                    counts = {p: await readings(hub, p) for p in moving}
                    return all(counts[p] > since.get(p, 0) + 3 for p in moving)

                await wait_for(lambda: delivering({}), within=60)

                assert sec.stack.mosquitto.pid is not None
                pid.write_text(f"{sec.stack.mosquitto.pid}\n")
                started = rollover(prov, "start", "--hup-pid-file", str(pid))
                assert started.returncode == 0, started.stderr
                assert "sent SIGHUP" in started.stdout
                assert "the hub signs with the next issuing CA" in started.stdout
                new_root = prov.pki.next.ca_crt.read_text()
                assert split_pem(sec.files.cafile.read_text()) == [old_root, new_root]

                async def moved() -> bool:
                    kept = all((tmp_path / p / "certs" / "trust.crt").exists() for p in moving)
                    return kept and set(ca_rollover.status(prov).moved) == set(moving)

                await wait_for(moved, within=90)
                for pole in moving:
                    current = (tmp_path / pole / "certs" / "current").resolve()
                    assert "Trygg issuing CA" in issuer(current / "device.crt")
                    assert issuer(current / "device.crt") != issuer(
                        prov.secrets / "devices" / pole / f"{pole}.crt"
                    )
                    trust = (tmp_path / pole / "certs" / "trust.crt").read_text()
                    assert split_pem(trust) == [old_root, new_root]
                status = rollover(prov, "status")
                assert status.returncode == 0, status.stderr
                assert f"poles on the next CA: 2 of 3\nnot yet: {away}" in status.stdout

                # the pole that was away holds the overlap up: finish refuses, changes nothing
                refused = rollover(prov, "finish", "--hup-pid-file", str(pid))
                assert refused.returncode == 1
                assert f"1 pole(s) have no certificate from the next CA yet: {away}" in (
                    refused.stderr
                )
                assert prov.pki.next.exists()
                assert split_pem(sec.files.cafile.read_text()) == [old_root, new_root]

                before = {p: await readings(hub, p) for p in moving}
                done = rollover(prov, "finish", "--force", "--hup-pid-file", str(pid))
                assert done.returncode == 0, done.stderr
                assert f"locked out until it gets a new bundle: {away}" in done.stdout
                assert not prov.pki.next.exists()
                assert prov.pki.ca_crt.read_text() == new_root
                assert split_pem(sec.files.cafile.read_text()) == [new_root]
                broker_issuer = issuer(sec.files.certfile)
                assert broker_issuer == issuer(prov.pki.ca_crt)  # the new root signed it
                # connected poles stay connected through the broker's reload
                await wait_for(lambda: delivering(before), within=30)

                # restarted, the moved poles verify the broker's new certificate and connect
                for pole in moving:
                    stop(procs[pole])
                before = {p: await readings(hub, p) for p in moving}
                procs = {p: spawn(configs[p], log) for p in poles}
                await wait_for(lambda: delivering(before), within=60)

                async def complained() -> bool:
                    return "the broker's certificate is not signed by a CA this pole" in (
                        log.read_text()
                    )

                await wait_for(complained, within=30)
                assert await readings(hub, away) == 0
                # a new bundle brings it back: from the new CA, which the broker trusts
                prov.renew(away)
                assert "Trygg fleet CA" in issuer(prov.secrets / "devices" / away / f"{away}.crt")
                assert read_certificate(prov.secrets / "devices" / away / f"{away}.crt")
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    stop(proc)
        text = log.read_text()
        for pole in moving:
            asked = [line for line in text.splitlines() if f"{pole}: command" in line]
            assert any("renew_certificate: renewal requested" in line for line in asked), asked
            assert f"{pole}: now connected with the renewed certificate" in text, text[-3000:]
