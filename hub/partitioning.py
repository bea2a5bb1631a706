"""Which partition a device belongs to, and the names that follow from it. Pure.

A device's partition is a stable hash of its *partition key*: the control cabinet of its
lamps when it has any (the cabinet rule needs every pole of a cabinet in one place, and in
Solna a street's cabinet spans poles whose sites, the nearest square, differ), else its
site (a square's cameras and bins stay together for the crowd rules), else its id. The key
comes from the device's birth, or from SQL for a device already born.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

LEASE_PREFIX = "partition-"


def partition_key(*, device: str, site: str, cabinets: Iterable[str | None]) -> str:
    """The key that decides ``device``'s partition (see the module's docstring)."""
    named = sorted(c for c in cabinets if c)
    if named:
        return "cabinet:" + named[0]
    if site:
        return "site:" + site
    return "device:" + device


def partition_of(key: str, count: int) -> int:
    """``key``'s partition among ``count``; the same in every process and release (Python's
    own ``hash`` of a string is salted per process)."""
    if count < 1:
        raise ValueError("the partition count must be at least 1")
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def birth_key(device: str, payload: bytes) -> str:
    """The partition key a birth's payload gives ``device``; a payload that cannot be read
    falls to the device's id, so exactly one partition dead-letters it."""
    try:
        body: Any = json.loads(payload)
    except ValueError:
        return "device:" + device
    if not isinstance(body, dict):
        return "device:" + device
    site = body.get("site")
    assets = body.get("assets")
    cabinets: list[str | None] = []
    if isinstance(assets, list):
        cabinets = [
            a["cabinet"]
            for a in assets
            if isinstance(a, dict) and isinstance(a.get("cabinet"), str)
        ]
    return partition_key(
        device=device, site=site if isinstance(site, str) else "", cabinets=cabinets
    )


def lease_name(index: int) -> str:
    return f"{LEASE_PREFIX}{index:02d}"


def client_id(group: str, index: int) -> str:
    """The MQTT client id of a partition's one persistent session, whichever hub holds it
    (``group``: the installation's share group, the same on all its hubs)."""
    return f"{group}-part-{index:02d}"


def counter_prefix(index: int) -> str:
    """Prefix of a partition's counter rows in SQL (``part.07.messages``)."""
    return f"part.{index:02d}."


def fair_share(partitions: int, live_hubs: int) -> int:
    """How many partitions one hub holds at most while ``live_hubs`` hubs are up."""
    return -(-partitions // max(1, live_hubs))
