"""The production broker config on the real Mosquitto, with the secrets make-secrets.sh makes.

deploy/make-secrets.sh runs in a scratch copy of the repository (it writes .env and
deploy/secrets/ where it runs), then deploy/mosquitto/mosquitto.conf runs on Debian's
Mosquitto 2.0 with the container paths and ports mapped to the scratch folder. Checks:
the hub's TLS + password listener accepts the hub and refuses a wrong password, the pole
listener refuses a client without a certificate, and the loopback listener (health check,
``sim`` profile) reads what the hub wrote.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.needs import need_binary
from trygg.stack import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, int]]]:
    mosquitto = need_binary("mosquitto")
    need_binary("openssl")
    root = tmp_path_factory.mktemp("deploy")
    shutil.copytree(REPO / "firmware-config", root / "firmware-config")
    shutil.copy(REPO / ".env.example", root / ".env.example")
    (root / "deploy").mkdir()
    shutil.copy(REPO / "deploy/make-secrets.sh", root / "deploy/make-secrets.sh")
    shutil.copy(REPO / "deploy/make-tls.sh", root / "deploy/make-tls.sh")
    trygg = Path(sys.executable).with_name("trygg")
    out = subprocess.run(
        ["sh", "deploy/make-secrets.sh", "--broker-host", "localhost", "--trygg", str(trygg)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr + out.stdout

    ports = {"device": free_port(), "hub": free_port(), "local": free_port()}
    conf = (REPO / "deploy/mosquitto/mosquitto.conf").read_text()
    conf = conf.replace("/mosquitto/secrets", str(root / "deploy/secrets/broker"))
    conf = conf.replace("/mosquitto/config/acl-local", str(REPO / "deploy/mosquitto/acl-local"))
    conf = conf.replace("/mosquitto/data/", f"{root}/data/")
    conf = conf.replace("listener 8883", f"listener {ports['device']}")
    conf = conf.replace("listener 8884", f"listener {ports['hub']}")
    conf = conf.replace("listener 1883 ", f"listener {ports['local']} ")
    if os.geteuid() == 0:
        conf = "user root\n" + conf  # else it drops to 'mosquitto', which can't read tmp
    (root / "data").mkdir()
    (root / "mosquitto.conf").write_text(conf)
    log = (root / "mosquitto.log").open("w")
    proc = subprocess.Popen(
        [mosquitto, "-c", str(root / "mosquitto.conf")], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert proc.poll() is None, (root / "mosquitto.log").read_text()
            probe = _sub(ports["local"], "$SYS/broker/uptime", wait_s=1)
            if probe.returncode == 0:
                break
            time.sleep(0.1)
        yield root, ports
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _sub(port: int, topic: str, *, wait_s: int = 5) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "mosquitto_sub",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-t",
            topic,
            "-C",
            "1",
            "-W",
            str(wait_s),
        ],
        capture_output=True,
        text=True,
        timeout=wait_s + 5,
        check=False,
    )


def _hub_pub(
    root: Path, port: int, password: str, message: str
) -> subprocess.CompletedProcess[str]:
    secrets = root / "deploy/secrets"
    return subprocess.run(
        [
            "mosquitto_pub",
            "-h",
            "localhost",
            "-p",
            str(port),
            "--cafile",
            str(secrets / "hub/ca.crt"),
            "-u",
            "trygg-hub",
            "-P",
            password,
            "-q",
            "1",
            "-r",
            "-t",
            "trygg/v1/hub/state",
            "-m",
            message,
        ],
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )


def test_env_has_every_secret_filled(deployed: tuple[Path, dict[str, int]]) -> None:
    root, _ = deployed
    env = dict(
        line.split("=", 1)
        for line in (root / ".env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert env["MQTT_PUBLIC_HOST"] == "localhost"
    for key in (
        "INFLUX_ADMIN_PASSWORD",
        "INFLUX_ADMIN_TOKEN",
        "POSTGRES_PASSWORD",
        "INFLUX_HUB_PASSWORD",
        "INFLUX_GRAFANA_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
    ):
        assert re.fullmatch(r"[A-Za-z0-9]{32}", env[key]), key
    assert len({env[k] for k in env if "PASSWORD" in k or "TOKEN" in k}) == 6
    assert (root / ".env").stat().st_mode & 0o077 == 0


def test_the_https_proxy_gets_a_certificate_and_never_the_cas_key(
    deployed: tuple[Path, dict[str, int]],
) -> None:
    root, _ = deployed
    assert "HTTPS_PUBLIC_HOST=localhost\n" in (root / ".env").read_text()  # default: the broker
    proxy = root / "deploy/secrets/proxy"
    assert sorted(p.name for p in proxy.iterdir()) == ["ca.crt", "server.crt", "server.key"]
    assert proxy.joinpath("server.key").stat().st_mode & 0o077 == 0
    checked = subprocess.run(
        ["openssl", "verify", "-CAfile", str(proxy / "ca.crt"), "-verify_hostname", "localhost",
         str(proxy / "server.crt")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    # The CA's key stays in the provisioning folder, which no serving container mounts.
    assert (root / "deploy/pki/https/ca.key").is_file()
    assert not any(p.name.endswith(".key") for p in (root / "deploy/secrets").rglob("ca.*"))


def test_hub_listener_takes_the_generated_password_over_tls(
    deployed: tuple[Path, dict[str, int]],
) -> None:
    root, ports = deployed
    password = (root / "deploy/secrets/hub/mqtt-password").read_text().strip()
    out = _hub_pub(root, ports["hub"], password, "hub-was-here")
    assert out.returncode == 0, out.stderr
    seen = _sub(ports["local"], "trygg/v1/hub/state")
    assert seen.stdout.strip() == "hub-was-here"


def test_hub_listener_refuses_a_wrong_password(deployed: tuple[Path, dict[str, int]]) -> None:
    root, ports = deployed
    out = _hub_pub(root, ports["hub"], "not-the-password", "intruder")
    assert out.returncode != 0
    assert _sub(ports["local"], "trygg/v1/hub/state").stdout.strip() != "intruder"


def test_pole_listener_requires_a_client_certificate(
    deployed: tuple[Path, dict[str, int]],
) -> None:
    root, ports = deployed
    out = subprocess.run(
        [
            "mosquitto_pub",
            "-h",
            "localhost",
            "-p",
            str(ports["device"]),
            "--cafile",
            str(root / "deploy/secrets/broker/ca.crt"),
            "-t",
            "trygg/v1/dev/x/data",
            "-m",
            "x",
        ],
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )
    assert out.returncode != 0
