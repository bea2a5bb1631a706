"""``trygg provision maintain`` (the daily timer's command) and ``issuing-ca``, against the
real openssl: what is due is renewed, what is fresh is left alone, a CA near its end is
named for a person, and revoking a pole also revokes what the hub signed for it."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.provision import Provisioner
from tests.edge.secure import fleet_files, lamp_assets
from trygg.openssl import read_certificate, run

TRYGG = str(Path(sys.executable).with_name("trygg"))
DAY = timedelta(days=1)


def _fleet(tmp: Path, *, provisioned_ago: timedelta) -> Provisioner:
    fleet_files(tmp / "firmware-config", {"pole-a": lamp_assets("pole-a")})
    prov = Provisioner(config_dir=tmp / "firmware-config", secrets_dir=tmp / "pki")
    then = datetime.now(UTC) - provisioned_ago
    prov.device("pole-a", now=then)
    prov.issuing_ca(now=then)
    return prov


def maintain(prov: Provisioner) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TRYGG, "provision", "maintain", "--secrets", str(prov.secrets),
         "--config-dir", str(prov.config_dir)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_maintain_renews_the_broker_certificate_with_a_third_of_its_life_left(
    tmp_path: Path,
) -> None:
    prov = _fleet(tmp_path, provisioned_ago=600 * DAY)  # 225 of 825 days left
    broker = prov.secrets / "broker" / "broker.crt"
    old = read_certificate(broker)
    out = maintain(prov)
    assert out.returncode == 0, out.stderr
    assert "crl: re-signed" in out.stdout
    assert "broker: certificate renewed" in out.stdout
    assert "SIGHUP" in out.stdout  # the broker must load its new certificate
    assert "attention" not in out.stdout
    new = read_certificate(broker)
    assert new.serial != old.serial
    assert new.subject == old.subject
    assert new.not_after > datetime.now(UTC) + 800 * DAY
    # the broker checks both CRLs: the fleet CA's and the issuing CA's
    crls = (prov.secrets / "broker" / "crl.pem").read_text()
    assert crls.count("BEGIN X509 CRL") == 2
    again = maintain(prov)
    assert again.returncode == 0, again.stderr
    assert "still fresh" in again.stdout
    assert "renewed" not in again.stdout
    assert "SIGHUP" not in again.stdout
    assert read_certificate(broker).serial == new.serial


def test_maintain_names_a_ca_near_its_end(tmp_path: Path) -> None:
    prov = _fleet(tmp_path, provisioned_ago=2600 * DAY)  # the fleet CA has 1050 days left
    out = maintain(prov)
    assert out.returncode == 0, out.stderr
    assert "attention: fleet CA expires" in out.stdout
    assert "attention: issuing CA expires" in out.stdout  # its 1826 days are over
    fresh = _fleet(tmp_path / "fresh", provisioned_ago=DAY)
    assert "attention" not in maintain(fresh).stdout


def test_revoking_a_pole_revokes_what_the_hub_signed_for_it(tmp_path: Path) -> None:
    prov = _fleet(tmp_path, provisioned_ago=DAY)
    csr = tmp_path / "pole.csr"
    run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(tmp_path / "pole.key"), "-out", str(csr), "-subj", "/CN=pole-a")  # fmt: skip
    chain = prov.issuing.sign_request(
        csr, common_name="pole-a", now=datetime.now(UTC), lifetime=365 * DAY
    )
    (signed,) = prov.issuing.issued_to("pole-a")
    assert read_certificate(signed).subject == "CN=pole-a"
    assert chain.startswith(signed.read_text())
    prov.revoke("pole-a")
    assert prov.issuing.issued_to("pole-a") == []
    serial = read_certificate(signed).serial
    assert serial in prov.issuing.revoked_serials()
    listed = run("crl", "-in", str(prov.issuing.crl), "-noout", "-text")
    assert f"Serial Number: {serial}" in listed
    assert prov.issuing.crl.read_text() in (prov.secrets / "broker" / "crl.pem").read_text()
