"""The device registry: which devices the hub accepts (provisioned devices only)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session, sessionmaker

from hub.db import Device


def register(sessions: sessionmaker[Session], devices: Iterable[tuple[str, str]]) -> int:
    """Register (device id, site) pairs; existing devices are left as they are."""
    added = 0
    with sessions.begin() as s:
        for device_id, site in devices:
            if s.get(Device, device_id) is None:
                s.add(Device(id=device_id, site=site, above={"seqs": []}))
                added += 1
    return added
