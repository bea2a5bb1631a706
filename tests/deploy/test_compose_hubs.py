"""docker-compose.yml runs two hubs behind the proxy: the same settings but for their names,
their own spool volumes, both the proxy's upstreams; the HA sketch is valid compose too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

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
