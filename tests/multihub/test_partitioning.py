"""Which partition a device belongs to, and how a partition's ingest routes messages. Pure."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from hub import partitioning as part
from hub.leases import Lease, Leases
from hub.partition_scope import PartitionScope
from hub.settings import HubSettings
from trygg import contract as c
from trygg.clock import FakeClock
from trygg.mqtt import Incoming


@pytest.mark.parametrize(
    ("site", "cabinets", "key"),
    [
        ("square-a", ["cab-2", None, "cab-1"], "cabinet:cab-1"),
        ("square-a", [None], "site:square-a"),
        ("", [], "device:pole-1"),
    ],
)
def test_the_cabinet_decides_before_the_site_and_the_site_before_the_id(
    site: str, cabinets: list[str | None], key: str
) -> None:
    assert part.partition_key(device="pole-1", site=site, cabinets=cabinets) == key


def test_poles_of_one_cabinet_share_a_partition_whatever_their_sites() -> None:
    parts = {
        part.partition_of(
            part.partition_key(device=f"pole-{i}", site=f"square-{i}", cabinets=["cab-x"]), 16
        )
        for i in range(20)
    }
    assert len(parts) == 1


def test_the_hash_is_the_same_in_another_process_and_spreads_keys() -> None:
    keys = [f"site:s{i}" for i in range(400)]
    here = [part.partition_of(k, 16) for k in keys]
    code = (
        "from hub.partitioning import partition_of; import sys; "
        "print([partition_of(f'site:s{i}', 16) for i in range(400)])"
    )
    there = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert there.strip() == str(here)
    counts = [here.count(p) for p in range(16)]
    assert min(counts) > 10  # 25 expected each


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b"not json", "device:d1"),
        (b"[1, 2]", "device:d1"),
        (json.dumps({"site": "sq", "assets": [{"cabinet": "cab-9"}]}).encode(), "cabinet:cab-9"),
        (json.dumps({"site": "sq", "assets": [{"cabinet": 5}, "x"]}).encode(), "site:sq"),
        (json.dumps({"site": 7}).encode(), "device:d1"),
    ],
)
def test_a_birth_gives_its_key_even_when_it_is_malformed(body: bytes, key: str) -> None:
    assert part.birth_key("d1", body) == key


def test_fair_share_and_names() -> None:
    assert [part.fair_share(16, n) for n in (0, 1, 2, 3, 16, 17)] == [16, 16, 8, 6, 1, 1]
    assert part.lease_name(7) == "partition-07"
    assert part.client_id("trygg-hub", 7) == "trygg-hub-part-07"
    assert part.counter_prefix(7) == "part.07."
    with pytest.raises(ValueError, match="partition count"):
        part.partition_of("x", 0)


def _scope(index: int, count: int, devices: set[str]) -> PartitionScope:
    leases = Leases(
        sessions=None,  # type: ignore[arg-type]
        clock=FakeClock(datetime(2026, 12, 6, tzinfo=UTC)),
        holder="hub-a",
        ttl_s=10,
    )
    lease = Lease(name=part.lease_name(index), holder="hub-a", token=3)
    return PartitionScope(
        index=index, count=count, lease=lease, leases=leases, group="g", devices=devices
    )


def _birth(site: str) -> bytes:
    return json.dumps({"site": site, "assets": []}).encode()


def test_a_scope_keeps_its_devices_and_takes_a_new_one_by_its_birth() -> None:
    count = 8
    mine_site = next(
        s for s in (f"s{i}" for i in range(100)) if part.partition_of(f"site:{s}", count) == 3
    )
    other_site = next(
        s for s in (f"s{i}" for i in range(100)) if part.partition_of(f"site:{s}", count) != 3
    )
    scope = _scope(3, count, {"known"})
    data = c.topic_for("known", c.Kind.DATA)
    assert scope.route(data, b"{}") == (True, None, False)
    assert scope.route(c.topic_for("stranger", c.Kind.DATA), b"{}") == (False, None, False)
    birth = c.topic_for("newcomer", c.Kind.BIRTH)
    assert scope.route(birth, _birth(mine_site)) == (True, "newcomer", True)
    assert scope.route(c.topic_for("other", c.Kind.BIRTH), _birth(other_site)) == (
        False,
        None,
        False,
    )
    # A known device born with a key of another partition moves out.
    assert scope.route(c.topic_for("known", c.Kind.BIRTH), _birth(other_site)) == (
        False,
        "known",
        False,
    )
    assert scope.client_id == "g-part-03"
    assert scope.subscriptions({"d2", "d1"})[:4] == [
        c.subscription(k, "d1")
        for k in (c.Kind.DATA, c.Kind.EVENT, c.Kind.CMD_RESULT, c.Kind.STATE)
    ]


def test_a_scope_keeps_its_messages_and_subscribes_each_newcomer_once() -> None:
    count = 8
    sites = [f"s{i}" for i in range(100)]
    mine_site = next(s for s in sites if part.partition_of(f"site:{s}", count) == 3)
    other_site = next(s for s in sites if part.partition_of(f"site:{s}", count) != 3)
    scope = _scope(3, count, {"known", "leaving"})

    def msg(device: str, kind: c.Kind, payload: bytes = b"{}") -> Incoming:
        return Incoming(c.topic_for(device, kind), payload, 1, 1, False)

    messages = [
        msg("known", c.Kind.DATA),
        msg("stranger", c.Kind.DATA),
        msg("newcomer", c.Kind.BIRTH, _birth(mine_site)),
        msg("newcomer", c.Kind.DATA),
        msg("leaving", c.Kind.BIRTH, _birth(other_site)),
        msg("leaving", c.Kind.DATA),
    ]
    kept = scope.keep(messages)
    assert kept == [messages[0], messages[2], messages[3]]
    assert scope.devices == {"known", "newcomer"}
    assert scope.take_joining() == {"newcomer"}
    assert scope.take_joining() == set()
    assert scope.take_leaving() == {"leaving"}  # for the ingest to stop following it
    assert scope.take_leaving() == set()
    assert scope.keep([msg("newcomer", c.Kind.BIRTH, _birth(mine_site))]) != []
    assert scope.take_joining() == set()  # already a member: nothing to subscribe again


def test_one_topic_that_names_no_device_goes_to_exactly_one_partition() -> None:
    topic = "trygg/v1/dev/Bad_Id/birth"
    owners = [p for p in range(8) if _scope(p, 8, set()).route(topic, b"{}")[0]]
    assert len(owners) == 1


def test_lease_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="half"):
        HubSettings(lease_ttl_s=4, lease_renew_s=3)
    assert HubSettings(hub_id="").holder()
    assert HubSettings(hub_id="hub-7").holder() == "hub-7"
