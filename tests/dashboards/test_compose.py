"""docker-compose.yml: valid for Debian's docker-compose 1.29, consistent with the hub's
settings, every mounted file in the repository, and no secret written into it."""

from __future__ import annotations

import ipaddress
import re
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from dashboards.provisioning import CONTAINER_DASHBOARDS
from dashboards.schema import DATABASE
from hub.settings_env import owner
from tests.helpers import settings_from
from tests.needs import unavailable

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
SECRET = re.compile(r"PASSWORD|TOKEN|SECRET")
REQUIRED = re.compile(r"^\$\{(\w+):\?[^}]*\}$")


def _env_example() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in (REPO / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    return dict(pairs)


def _env_file(tmp_path: Path, drop: str | None = None) -> Path:
    """An .env the way deploy/make-secrets.sh fills it (random secrets)."""
    values = {k: v or secrets.token_urlsafe(24) for k, v in _env_example().items() if k != drop}
    path = tmp_path / "test.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def _compose(*args: str, env_file: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        unavailable("docker-compose is not installed (apt-get install docker-compose)")
    return subprocess.run(
        [binary, "--env-file", str(env_file), "--profile", "sim", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    env_file = _env_file(tmp_path_factory.mktemp("compose"))
    out = _compose("config", env_file=env_file)
    assert out.returncode == 0, out.stderr
    config: dict[str, Any] = yaml.safe_load(out.stdout)
    return config


def test_config_quiet_passes(tmp_path: Path) -> None:
    out = _compose("config", "-q", env_file=_env_file(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""


@pytest.mark.parametrize("missing", ["POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"])
def test_missing_secret_is_refused(tmp_path: Path, missing: str) -> None:
    out = _compose("config", "-q", env_file=_env_file(tmp_path, drop=missing))
    assert out.returncode != 0
    assert missing in out.stderr


def _mounts(svc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(type, source, target) of each volume, from compose 1.29's short or long syntax."""
    out = []
    for vol in svc.get("volumes", []):
        if isinstance(vol, dict):
            out.append((vol["type"], str(vol.get("source", "")), vol["target"]))
        else:
            source, target = str(vol).split(":")[:2]
            out.append(("bind" if source.startswith("/") else "volume", source, target))
    return out


def test_mounted_files_and_build_contexts_exist(resolved: dict[str, Any]) -> None:
    tracked = set(
        subprocess.run(
            ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.split()
    )
    for name, svc in resolved["services"].items():
        if "build" in svc:
            context = Path(svc["build"]["context"])
            assert context == REPO, f"{name}: build context {context}"
            assert (context / svc["build"].get("dockerfile", "Dockerfile")).is_file()
        for kind, src, _target in _mounts(svc):
            if kind != "bind":
                continue
            source = Path(src)
            assert source.exists(), f"{name}: {source} does not exist"
            rel = source.relative_to(REPO).as_posix()
            in_git = rel in tracked or any(t.startswith(rel + "/") for t in tracked)
            assert in_git, f"{name}: {rel} is not in the repository"
    for copied in re.findall(r"^COPY (\S+)", (REPO / "Dockerfile").read_text(), re.M):
        assert (REPO / copied).exists(), f"Dockerfile copies missing {copied}"


def _env(svc: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = svc["environment"]
    return env


def test_hub_settings_agree_with_the_services(
    resolved: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = resolved["services"]
    hub_env = _env(services["hub"])
    password_file = tmp_path / "mqtt-password"
    password_file.write_text("x" * 20)
    settings = settings_from(
        monkeypatch, {**hub_env, "TRYGG_MQTT_PASSWORD_FILE": str(password_file)}
    )
    for key in hub_env:
        if key.startswith("TRYGG_"):
            assert owner(key) == "hub", f"the hub does not read {key}"

    aliases = services["mosquitto"]["networks"]["default"]["aliases"]
    assert settings.mqtt_host in aliases
    conf = (REPO / "deploy/mosquitto/mosquitto.conf").read_text()
    listeners = {int(p) for p in re.findall(r"^listener (\d+)", conf, re.M)}
    assert settings.mqtt_port in listeners
    assert settings.mqtt_username == "trygg-hub"  # edge/provision.py HUB_USER
    mounts = {target for _, _, target in _mounts(services["hub"])}
    for path in (settings.mqtt_ca_file, Path(hub_env["TRYGG_MQTT_PASSWORD_FILE"])):
        assert path is not None
        assert str(path.parent) in mounts, f"{path} is not mounted into the hub"

    influx = urlsplit(settings.influx_url)
    assert influx.hostname in services
    assert influx.port == 8086
    assert settings.influx_db == DATABASE == _env(services["influxdb"])["TRYGG_INFLUX_DB"]
    assert settings.influx_username == _env(services["influxdb"])["INFLUX_HUB_USER"]

    db = urlsplit(settings.database_url.replace("postgresql+psycopg", "postgresql"))
    pg = _env(services["postgres"])
    assert db.hostname in services
    assert (db.port, db.username, db.path.lstrip("/")) == (
        5432,
        pg["POSTGRES_USER"],
        pg["POSTGRES_DB"],
    )
    assert db.password == pg["POSTGRES_PASSWORD"]

    assert "ports" not in services["hub"]  # only through the TLS proxy
    assert str(settings.api_port) in services["hub"]["expose"]
    proxy_env = _env(services["proxy"])
    assert proxy_env["TRYGG_PROXY_API_UPSTREAM"] == f"hub:{settings.api_port}"
    assert settings.api_host == "0.0.0.0"
    assert f":{settings.api_port}/health" in " ".join(services["hub"]["healthcheck"]["test"])


def test_grafana_reads_the_provisioning_and_the_hubs_influxdb(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    grafana = services["grafana"]
    targets = {target: Path(src) for kind, src, target in _mounts(grafana) if kind == "bind"}
    assert targets["/etc/grafana/provisioning"] == REPO / "dashboards/provisioning"
    assert targets[str(CONTAINER_DASHBOARDS)] == REPO / "dashboards/generated"
    env = _env(grafana)
    assert env["TRYGG_GRAFANA_INFLUX_URL"] == _env(services["hub"])["TRYGG_INFLUX_URL"]
    provisioning = (REPO / "dashboards/provisioning/datasources/trygg-influxdb.yaml").read_text()
    for var in re.findall(r"\$\{(\w+)\}", provisioning):
        assert var in env, f"datasource provisioning needs {var} in grafana's environment"


def test_sim_profile_reaches_the_brokers_loopback_listener(resolved: dict[str, Any]) -> None:
    sim = resolved["services"]["sim"]
    assert sim["profiles"] == ["sim"]
    assert sim["network_mode"] == "service:mosquitto"
    port = int(sim["command"][sim["command"].index("--mqtt-port") + 1])
    conf = (REPO / "deploy/mosquitto/mosquitto.conf").read_text()
    assert f"listener {port} 127.0.0.1" in conf


def test_healthchecks_and_start_order(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    for name in ("mosquitto", "influxdb", "postgres", "hub", "grafana"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    assert {k: v["condition"] for k, v in services["hub"]["depends_on"].items()} == {
        "mosquitto": "service_healthy",
        "influxdb": "service_healthy",
        "postgres": "service_healthy",
    }
    for name in ("mosquitto", "influxdb", "postgres"):
        assert services[name]["depends_on"]["preflight"]["condition"] == (
            "service_completed_successfully"
        )


def test_no_secret_is_hard_coded() -> None:
    raw = yaml.safe_load(COMPOSE.read_text())
    referenced: set[str] = set()
    for name, svc in raw["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if SECRET.search(key) and not key.endswith("_FILE"):
                match = REQUIRED.match(str(value))
                assert match, f"{name}.{key} must come from .env as ${{VAR:?...}}"
                referenced.add(match.group(1))
        if "TRYGG_DATABASE_URL" in (svc.get("environment") or {}):
            url = svc["environment"]["TRYGG_DATABASE_URL"]
            assert "${POSTGRES_PASSWORD:?" in url
    example = _env_example()
    for var in referenced:
        assert example.get(var) == "", f".env.example must leave {var} empty"
    # preflight checks exactly the secrets the stack uses
    assert set(raw["services"]["preflight"]["command"]) == referenced


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("", False),
        ("short-1234", False),
        ("change-me-change-me-change-me", False),
        ("Password-Password-Password", False),
        ("admin-admin-admin-admin", False),
        (secrets.token_urlsafe(24), True),
    ],
)
def test_preflight_refuses_weak_secrets(value: str, ok: bool) -> None:
    out = subprocess.run(
        ["sh", str(REPO / "deploy/check-secrets.sh"), "THE_SECRET"],
        env={"PATH": "/usr/bin:/bin", "THE_SECRET": value},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (out.returncode == 0) is ok, out.stderr
    if value:
        assert value not in out.stdout + out.stderr  # never echoes a secret


def _ports(svc: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, published, target) of each port, from compose 1.29's short or long
    syntax (it keeps ``IP:published:target/proto`` as a string)."""
    out = []
    for port in svc.get("ports", []):
        if isinstance(port, dict):
            out.append(
                (port.get("host_ip", "0.0.0.0"), int(port["published"]), int(port["target"]))
            )
        else:
            *host, published, target = str(port).split("/")[0].split(":")
            out.append((host[0] if host else "0.0.0.0", int(published), int(target)))
    return out


def test_api_and_grafana_are_published_only_through_the_tls_proxy(
    resolved: dict[str, Any],
) -> None:
    services = resolved["services"]
    published: dict[tuple[str, int], str] = {}
    for name, svc in services.items():
        for host_ip, port, _ in _ports(svc):
            published[(host_ip, port)] = name
    # To every interface: the poles' MQTT over TLS, and the proxy's two HTTPS ports.
    outside = {key: name for key, name in published.items() if key[0] != "127.0.0.1"}
    assert outside == {
        ("0.0.0.0", 8883): "mosquitto",
        ("0.0.0.0", 443): "proxy",
        ("0.0.0.0", 3000): "proxy",
    }
    proxy = services["proxy"]
    env = _env(proxy)
    targets = {port: target for _, port, target in _ports(proxy)}
    assert targets == {
        443: int(env["TRYGG_PROXY_HTTPS_PORT"]),
        3000: int(env["TRYGG_PROXY_GRAFANA_PORT"]),
    }
    assert env["TRYGG_PROXY_GRAFANA_UPSTREAM"] == "grafana:3000"
    assert "3000" in services["grafana"]["expose"]
    assert "ports" not in services["grafana"]
    grafana_env = _env(services["grafana"])
    assert grafana_env["GF_SERVER_ROOT_URL"].startswith("https://")
    assert grafana_env["GF_SECURITY_COOKIE_SECURE"] == "true"

    # The template the image fills in names exactly the variables compose sets.
    mounts = {target: Path(src) for kind, src, target in _mounts(proxy) if kind == "bind"}
    template = (mounts["/etc/nginx/templates"] / "default.conf.template").read_text()
    assert set(re.findall(r"\$\{(TRYGG_PROXY_\w+)\}", template)) == {
        k for k in env if k.startswith("TRYGG_PROXY_")
    }
    tls_dir = mounts[str(Path(env["TRYGG_PROXY_CERT"]).parent)]
    assert tls_dir == REPO / "deploy/secrets/proxy"
    assert Path(env["TRYGG_PROXY_KEY"]).parent == Path(env["TRYGG_PROXY_CERT"]).parent

    # The hub trusts forwarded client addresses from the proxy's fixed address only.
    address = proxy["networks"]["default"]["ipv4_address"]
    assert _env(services["hub"])["TRYGG_API_TRUSTED_PROXIES"] == address
    (subnet,) = (c["subnet"] for c in resolved["networks"]["default"]["ipam"]["config"])
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)


def _source_of(svc: dict[str, Any], target: str) -> tuple[str, bool]:
    """(host source, read-only) of the mount at ``target`` or the nearest one above it."""
    best: tuple[str, str, bool] | None = None
    for vol in svc.get("volumes", []):
        parts = str(vol).split(":") if not isinstance(vol, dict) else None
        source, mounted, ro = (
            (parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(","))
            if parts is not None
            else (str(vol.get("source", "")), vol["target"], bool(vol.get("read_only")))
        )
        inside = target == mounted or target.startswith(mounted.rstrip("/") + "/")
        if inside and (best is None or len(mounted) > len(best[1])):
            best = (source, mounted, ro)
    assert best is not None, f"{target} is not mounted"
    source, mounted, ro = best
    return str(Path(source) / Path(target).relative_to(mounted)), ro


def test_certificate_upkeep_writes_what_the_broker_and_the_hub_read(
    resolved: dict[str, Any],
) -> None:
    services = resolved["services"]
    hub, renewer, broker = services["hub"], services["pki-renewer"], services["mosquitto"]
    # the hub signs with the issuing CA: mounted read-write where its setting points
    issuing, ro = _source_of(hub, _env(hub)["TRYGG_CERT_ISSUING_DIR"])
    assert Path(issuing) == REPO / "deploy/pki/issuing"
    assert not ro
    assert hub["user"].startswith("10001:")  # the image's user, in the PKI's group

    # the renewer runs the daily upkeep (CRLs, the broker's certificate, a rollover)
    script = renewer["command"][0]
    args = script.split("do", 1)[1].split("||", 1)[0].split()
    assert args[:3] == ["trygg", "provision", "maintain"]
    opts = dict(zip(args[3::2], args[4::2], strict=True))
    assert _source_of(renewer, opts["--secrets"])[0] == str(REPO / "deploy/pki")
    broker_dir, ro = _source_of(renewer, opts["--broker-dir"])
    assert not ro
    hub_dir, ro = _source_of(renewer, opts["--hub-dir"])
    assert not ro

    # every file Mosquitto reads is one the renewer keeps current
    conf = (REPO / "deploy/mosquitto/mosquitto.conf").read_text()
    for key in ("cafile", "certfile", "keyfile", "crlfile"):
        for path in re.findall(rf"^{key} (\S+)", conf, re.M):
            source, _ = _source_of(broker, path)
            assert Path(source).parent == Path(broker_dir), f"{key} {path}"
            assert Path(source).name in ("ca.crt", "broker.crt", "broker.key", "crl.pem")
    # and the hub's CA file (both CAs during a rollover) too
    ca_file, _ = _source_of(hub, _env(hub)["TRYGG_MQTT_CA_FILE"])
    assert Path(ca_file) == Path(hub_dir) / "ca.crt"
