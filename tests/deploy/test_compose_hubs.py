"""docker-compose.yml runs two hubs behind the proxy: the same settings but for their names,
their own spool volumes, both the proxy's upstreams; the HA sketch is valid compose too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import make_url

from hub.settings import HubSettings
from hub.settings_env import owner
from tests.dashboards.test_compose import _compose, _env_file, _mounts

REPO = Path(__file__).resolve().parents[2]
HUBS = ("hub", "hub-2")


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = _compose("config", env_file=_env_file(tmp_path_factory.mktemp("compose")))
    assert out.returncode == 0, out.stderr
    resolved: dict[str, Any] = yaml.safe_load(out.stdout)["services"]
    return resolved


def test_two_hubs_differ_only_in_their_names_and_volumes(services: dict[str, Any]) -> None:
    one, two = (services[h] for h in HUBS)
    env_one, env_two = one["environment"], two["environment"]
    assert env_one["TRYGG_HUB_ID"] != env_two["TRYGG_HUB_ID"]
    assert env_one["TRYGG_CLIENT_ID"] != env_two["TRYGG_CLIENT_ID"]
    names = {"TRYGG_HUB_ID", "TRYGG_CLIENT_ID"}
    assert {k: v for k, v in env_one.items() if k not in names} == {
        k: v for k, v in env_two.items() if k not in names
    }
    assert int(env_one["TRYGG_PARTITIONS"]) > 0
    for key in env_one:
        assert owner(key) == "hub", f"the hub does not read {key}"
    for key in ("command", "depends_on", "healthcheck", "expose", "image"):
        assert one[key] == two[key], key
    spools = [{t: s for k, s, t in _mounts(svc) if k == "volume"} for svc in (one, two)]
    assert spools[0]["/var/lib/trygg"] != spools[1]["/var/lib/trygg"]
    assert "ports" not in two


def test_the_proxy_sends_the_api_to_both_hubs(services: dict[str, Any]) -> None:
    proxy = services["proxy"]
    env = proxy["environment"]
    port = services["hub"]["environment"]["TRYGG_API_PORT"]
    assert {env["TRYGG_PROXY_API_UPSTREAM"], env["TRYGG_PROXY_API_UPSTREAM_2"]} == {
        f"{h}:{port}" for h in HUBS
    }
    assert {h: proxy["depends_on"][h]["condition"] for h in HUBS} == dict.fromkeys(
        HUBS, "service_healthy"
    )
    template = (REPO / "deploy/proxy/default.conf.template").read_text()
    for var in ("TRYGG_PROXY_API_UPSTREAM", "TRYGG_PROXY_API_UPSTREAM_2"):
        assert f"server ${{{var}}}" in template


def test_the_ha_sketch_is_valid_and_gives_the_hubs_every_node(tmp_path: Path) -> None:
    out = _compose(
        "-f",
        "docker-compose.yml",
        "-f",
        "docker-compose.ha.yml",
        "--profile",
        "ha",
        "config",
        env_file=_env_file(tmp_path),
    )
    assert out.returncode == 0, out.stderr
    services = yaml.safe_load(out.stdout)["services"]
    for name in ("emqx-1", "emqx-2", "pg-1", "pg-2", "etcd"):
        assert services[name]["profiles"] == ["ha"], name
    for hub in HUBS:
        env = services[hub]["environment"]
        settings = HubSettings(
            mqtt_host=env["TRYGG_MQTT_HOST"],
            mqtt_fallbacks=env["TRYGG_MQTT_FALLBACKS"],
            mqtt_port=int(env["TRYGG_MQTT_PORT"]),
        )
        assert {h for h, _ in settings.broker().nodes} == {"emqx-1", "emqx-2"}
        url = make_url(env["TRYGG_DATABASE_URL"])
        assert url.query["target_session_attrs"] == "read-write"
        assert set(url.query["host"]) == {"pg-1:5432", "pg-2:5432"}
        assert env["TRYGG_HUB_ID"] != ""
