"""The production stack's CRL renewal without Docker: deploy/make-secrets.sh's files,
deploy/mosquitto/mosquitto.conf on the real Mosquitto started through
deploy/mosquitto/run.sh (as docker-compose.yml starts it), and the pki-renewer service's
own command taken from docker-compose.yml. A CRL left alone for 31 days locks the pole
out; the renewer's command re-signs it and run.sh makes Mosquitto reload it, with no
restart and no signal from outside.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from edge.provision import Provisioner
from tests.edge.secure import lamp_assets
from tests.helpers import wait_for
from tests.needs import need_binary
from trygg.mqtt import Connection, MqttSettings
from trygg.pki import Pki
from trygg.stack import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TRYGG = str(Path(sys.executable).with_name("trygg"))


def _renewer_command(root: Path) -> str:
    """The pki-renewer's loop body from docker-compose.yml, on this scratch folder's paths,
    run once (no sleep)."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    svc = compose["services"]["pki-renewer"]
    mounts = dict(v.split(":")[:2][::-1] for v in svc["volumes"])
    assert mounts == {
        "/pki": "./deploy/pki",
        "/broker": "./deploy/secrets/broker",
        "/hub": "./deploy/secrets/hub",
    }
    script: str = svc["command"][0]
    body = script.split("do", 1)[1].split("sleep", 1)[0].strip().rstrip(";")
    for target, source in mounts.items():
        body = body.replace(f" {target} ", f" {root / source} ")
    assert not re.search(r" /(pki|broker|hub)\b", body), body
    return body.replace("trygg provision", f"{TRYGG} provision")


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[tuple[Path, int, subprocess.Popen[bytes]]]:
    mosquitto = need_binary("mosquitto")
    need_binary("openssl")
    root = tmp_path
    shutil.copytree(REPO / "firmware-config", root / "firmware-config")
    (root / "firmware-config/devices/pole-z.yaml").write_text(
        f"id: pole-z\n{lamp_assets('pole-z')}"
    )
    shutil.copy(REPO / ".env.example", root / ".env.example")
    (root / "deploy").mkdir()
    for script in ("make-secrets.sh", "make-tls.sh"):
        shutil.copy(REPO / "deploy" / script, root / "deploy" / script)

    def make_secrets(*args: str) -> None:
        out = subprocess.run(
            ["sh", "deploy/make-secrets.sh", *args, "--trygg", TRYGG],
            cwd=root, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr + out.stdout

    make_secrets("--broker-host", "localhost")
    env = (root / ".env").read_text()
    assert f"TRYGG_PKI_USER={os.getuid()}:{os.getgid()}\n" in env
    # the fleet as it was 31 days ago, and nobody re-signed its CRL since
    ago = datetime.now(UTC) - timedelta(days=31)
    prov = Provisioner(config_dir=root / "firmware-config", secrets_dir=root / "deploy/pki")
    prov.device("pole-z", now=ago)
    Pki(root / "deploy/pki/ca").update_crl(now=ago)
    make_secrets("--broker-only")
    assert (root / "deploy/pki/public/devices/pole-z.crt").exists()  # what the hub watches

    port = free_port()
    conf = (REPO / "deploy/mosquitto/mosquitto.conf").read_text()
    conf = conf.replace("/mosquitto/secrets", str(root / "deploy/secrets/broker"))
    conf = conf.replace("/mosquitto/config/acl-local", str(REPO / "deploy/mosquitto/acl-local"))
    conf = conf.replace("/mosquitto/data/", f"{root}/data/")
    conf = conf.replace("listener 8883", f"listener {port}")
    conf = conf.replace("listener 8884", f"listener {free_port()}")
    conf = conf.replace("listener 1883 ", f"listener {free_port()} ")
    if os.geteuid() == 0:
        conf = "user root\n" + conf
    (root / "data").mkdir()
    (root / "mosquitto.conf").write_text(conf)
    log = (root / "run.log").open("wb")
    proc = subprocess.Popen(
        ["sh", str(REPO / "deploy/mosquitto/run.sh")],
        env={
            "PATH": os.environ["PATH"],
            "MOSQUITTO_BIN": mosquitto,
            "MOSQUITTO_CONF": str(root / "mosquitto.conf"),
            "WATCH_DIR": str(root / "deploy/secrets/broker"),
            "WATCH_EVERY_S": "0.2",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(0.5)
        assert proc.poll() is None, (root / "run.log").read_text()
        yield root, port, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        log.close()


def _pole_pub(root: Path, port: int) -> subprocess.CompletedProcess[str]:
    keys = root / "deploy/pki/devices/pole-z"
    return subprocess.run(
        ["mosquitto_pub", "-h", "localhost", "-p", str(port),
         "--cafile", str(root / "deploy/secrets/broker/ca.crt"),
         "--cert", str(keys / "pole-z.crt"), "--key", str(keys / "pole-z.key"),
         "-i", "pole-z", "-q", "1", "-t", "trygg/v1/dev/pole-z/data", "-m", "{}"],
        capture_output=True, text=True, timeout=15, check=False,
    )  # fmt: skip


def test_the_renewer_and_run_sh_end_a_crl_lapse_without_a_restart(
    deployed: tuple[Path, int, subprocess.Popen[bytes]],
) -> None:
    root, port, proc = deployed
    refused = _pole_pub(root, port)
    assert refused.returncode != 0  # the 31-day-old CRL expired: every pole is refused
    out = subprocess.run(
        ["sh", "-c", _renewer_command(root)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "re-signed" in out.stdout
    pid_before = proc.pid
    deadline = time.monotonic() + 15
    while (accepted := _pole_pub(root, port)).returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert accepted.returncode == 0, accepted.stderr + (root / "run.log").read_text()
    assert "sending mosquitto SIGHUP" in (root / "run.log").read_text()
    assert proc.poll() is None
    assert proc.pid == pid_before
    # docker stop: TERM reaches run.sh, which stops Mosquitto and exits with it
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert _pole_pub(root, port).returncode != 0


def test_the_hub_watches_the_public_certificates_the_provisioning_writes() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    hub = compose["services"]["hub"]
    watched = hub["environment"]["TRYGG_CERT_WATCH"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in hub["volumes"]}
    assert mounts[watched] == "./deploy/pki/public"
    assert mounts[watched] != "./deploy/pki"  # never the CA's key
    mosquitto = compose["services"]["mosquitto"]
    assert mosquitto["command"] == ["sh", "/mosquitto/config/run.sh"]


def _served(port: int, root: Path) -> bytes:
    """The certificate the broker's pole listener presents now (DER)."""
    keys = root / "deploy/pki/devices/pole-z"
    context = ssl.create_default_context(cafile=str(root / "deploy/secrets/broker/ca.crt"))
    context.load_cert_chain(keys / "pole-z.crt", keys / "pole-z.key")
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def _der(pem: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem.read_text())


async def test_the_renewer_renews_the_brokers_certificate_and_run_sh_serves_it(
    deployed: tuple[Path, int, subprocess.Popen[bytes]],
) -> None:
    root, port, proc = deployed
    secrets_broker = root / "deploy/secrets/broker"
    prov = Provisioner(config_dir=root / "firmware-config", secrets_dir=root / "deploy/pki")
    # the CRL kept fresh, and a broker certificate with less than a third of its life left,
    # in place as make-secrets.sh put them
    prov.crl(now=datetime.now(UTC))
    prov.issue_broker(now=datetime.now(UTC) - timedelta(days=600), host="localhost")
    for name in ("broker.crt", "broker.key", "crl.pem"):
        shutil.copy(root / "deploy/pki/broker" / name, secrets_broker / name)
    old = _der(secrets_broker / "broker.crt")

    async def serving(der: bytes) -> bool:
        return await asyncio.to_thread(_served, port, root) == der

    await wait_for(lambda: serving(old), within=15)

    keys = root / "deploy/pki/devices/pole-z"
    settings = MqttSettings(
        host="localhost", port=port, client_id="pole-z",
        ca_file=secrets_broker / "ca.crt", cert_file=keys / "pole-z.crt",
        key_file=keys / "pole-z.key", keepalive_s=10,
    )  # fmt: skip
    async with Connection(settings) as conn:
        out = await asyncio.to_thread(
            subprocess.run, ["sh", "-c", _renewer_command(root)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert "broker: certificate renewed" in out.stdout
        new = _der(root / "deploy/pki/broker/broker.crt")
        assert new != old
        assert _der(secrets_broker / "broker.crt") == new  # copied where Mosquitto reads
        await wait_for(lambda: serving(new), within=15)
        assert "sending mosquitto SIGHUP" in (root / "run.log").read_text()
        # the session opened before the reload is still there
        assert conn.is_connected
    assert _pole_pub(root, port).returncode == 0
    assert proc.poll() is None
