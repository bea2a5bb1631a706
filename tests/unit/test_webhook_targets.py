"""Which addresses a webhook may reach (pure: hub.webhook_targets)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from hub.api.config import ApiConfig
from hub.webhook_targets import TargetPolicy, is_public
from tests.helpers import settings_from
from tests.purity import io_imported_by

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:93.184.216.34", True),  # mapped public stays public
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("2002:808:808::1", False),  # 6to4, deprecated: refused whatever it embeds
        ("127.0.0.1", False),
        ("127.255.255.254", False),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("172.16.0.1", False),
        ("172.31.255.255", False),
        ("192.168.0.1", False),
        ("100.64.0.1", False),
        ("100.127.255.254", False),
        ("169.254.169.254", False),
        ("192.0.2.1", False),
        ("198.18.0.1", False),
        ("224.0.0.251", False),
        ("239.255.255.250", False),
        ("255.255.255.255", False),
        ("::", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("::127.0.0.1", False),  # IPv4-compatible
        ("fc00::1", False),
        ("fd12:3456::1", False),
        ("fe80::1", False),
        ("fec0::1", False),
        ("ff02::1", False),
        ("ff0e::1", False),
        ("2001:db8::1", False),
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b:1::1", False),
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", False),  # 6to4 of 169.254.169.254
    ],
)
def test_public_and_local_addresses(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_allow_list_names_networks_and_hosts() -> None:
    policy = TargetPolicy.parse(
        ["10.1.0.0/16", " 127.0.0.1 ", "Cases.Intra.Example.", "", "fd00::/8"]
    )
    loop = ipaddress.ip_address("127.0.0.1")
    assert policy.allows("anything.example", ipaddress.ip_address("10.1.2.3"))
    assert not policy.allows("anything.example", ipaddress.ip_address("10.2.0.1"))
    assert policy.allows("x", loop)
    assert policy.allows("x", ipaddress.ip_address("::ffff:127.0.0.1"))  # the same address
    assert not policy.allows("x", ipaddress.ip_address("127.0.0.2"))
    assert policy.allows("cases.intra.example", ipaddress.ip_address("192.168.7.7"))
    assert policy.allows("CASES.intra.example.", ipaddress.ip_address("192.168.7.7"))
    assert not policy.allows("other.intra.example", ipaddress.ip_address("192.168.7.7"))
    assert policy.allows("x", ipaddress.ip_address("fd00::5"))
    assert policy.allows("public.example", ipaddress.ip_address("93.184.216.34"))
    assert not TargetPolicy().allows("localhost", loop)


@pytest.mark.parametrize(
    "entry", ["10.0.0.0/33", "not a host", "http://x/", "-bad.example", "a..b"]
)
def test_bad_allow_list_entries_are_refused_at_start(
    entry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="allow-list entry"):
        TargetPolicy.parse([entry])
    with pytest.raises(ValueError, match="allow-list entry"):
        settings_from(monkeypatch, {"TRYGG_API_WEBHOOK_ALLOW": f"127.0.0.1,{entry}"})


def test_allow_list_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"TRYGG_API_WEBHOOK_ALLOW": "10.0.5.0/24, cases.intra"}
    config = settings_from(monkeypatch, env).api
    assert config.webhook_allow == ("10.0.5.0/24", "cases.intra")
    assert config.webhook_policy.allows("cases.intra", ipaddress.ip_address("10.9.9.9"))
    assert ApiConfig().webhook_policy == TargetPolicy()
    with pytest.raises(ValueError, match="TRYGG_API_WEBHOOK_IN_FLIGHT"):
        settings_from(monkeypatch, {"TRYGG_API_WEBHOOK_IN_FLIGHT": "0"})


def test_policy_module_imports_no_io_library() -> None:
    assert io_imported_by("hub.webhook_targets") == []
