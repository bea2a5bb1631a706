"""The device registry in SQL: register, retire, move, block; devices the hub does not know.

Every change is validated (:class:`RegistryError`, nothing changed), audited and raises the
registry version, which running hubs poll (:mod:`hub.registry_watch`) so that a change takes
effect without a restart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import audit
from hub.db import Asset, Device, RegistryVersion, UnregisteredDevice
from hub.strangers import Stranger
from trygg.contract import DEVICE_ID_PATTERN, NAME_PATTERN

_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)
_NAME = re.compile(NAME_PATTERN)


class RegistryError(ValueError):
    """A registry change that cannot be made; the message says why. Nothing changed."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the ingest needs of the registry: whom it takes, whom it drops, who owns what."""

    version: int
    known: frozenset[str]
    blocked: frozenset[str]
    owned: tuple[tuple[str, str], ...]  # (asset, device)


def version(s: Session) -> int:
    row = s.get(RegistryVersion, 1)
    return 0 if row is None else row.version


def bump(s: Session) -> None:
    """Raise the registry version in the caller's transaction."""
    row = s.get(RegistryVersion, 1, with_for_update=True)
    if row is None:
        s.add(RegistryVersion(id=1, version=1))
    else:
        row.version += 1


def snapshot(s: Session) -> Snapshot:
    known = frozenset(s.scalars(select(Device.id).where(Device.retired.is_(False))))
    blocked = frozenset(
        s.scalars(select(UnregisteredDevice.id).where(UnregisteredDevice.blocked.is_(True)))
    )
    owned = tuple((a, d) for a, d in s.execute(select(Asset.id, Asset.device_id)))
    return Snapshot(version=version(s), known=known, blocked=blocked, owned=owned)


def _device_view(dev: Device) -> dict[str, Any]:
    return {"site": dev.site, "device_class": dev.device_class, "retired": dev.retired}


def check_device_id(device_id: str) -> None:
    if not _DEVICE_ID.fullmatch(device_id):
        raise RegistryError(
            f"device id {device_id!r} is not valid: 2..63 of a-z, 0-9 and '-', "
            "starting with a letter or digit"
        )


def check_site(site: str) -> None:
    if not _NAME.fullmatch(site):
        raise RegistryError(f"site {site!r} is not valid: 1..64 of A-Z, a-z, 0-9, '_', '.', '-'")


def register(
    s: Session,
    *,
    device_id: str,
    site: str,
    actor: str,
    now: datetime,
    device_class: str = "pole",
) -> Device:
    """Register a device (or re-register a retired one); RegistryError if it is already
    registered, blocked, or an id or site is invalid."""
    check_device_id(device_id)
    check_site(site)
    check_site(device_class)
    dev = s.get(Device, device_id)
    if dev is not None and not dev.retired:
        raise RegistryError(f"device {device_id!r} is already registered (site {dev.site!r})")
    stranger = s.get(UnregisteredDevice, device_id)
    if stranger is not None and stranger.blocked:
        raise RegistryError(f"device {device_id!r} is blocked; unblock it first")
    before = _device_view(dev) if dev is not None else None
    if dev is None:
        dev = Device(id=device_id, above={"seqs": []})
        s.add(dev)
    dev.site, dev.device_class, dev.retired = site, device_class, False
    if stranger is not None:
        s.delete(stranger)
    s.flush()
    audit.record(
        s, actor=actor, action="device.register", target=device_id, now=now,
        before=before, after=_device_view(dev),
    )  # fmt: skip
    bump(s)
    return dev


def _registered(s: Session, device_id: str) -> Device:
    dev = s.get(Device, device_id)
    if dev is None or dev.retired:
        raise RegistryError(f"no registered device {device_id!r}")
    return dev


def retire(s: Session, *, device_id: str, actor: str, now: datetime) -> Device:
    """The hub stops taking the device's messages; its history stays."""
    dev = _registered(s, device_id)
    before = _device_view(dev)
    dev.retired = True
    audit.record(
        s, actor=actor, action="device.retire", target=device_id, now=now,
        before=before, after=_device_view(dev),
    )  # fmt: skip
    bump(s)
    return dev


def move(s: Session, *, device_id: str, site: str, actor: str, now: datetime) -> Device:
    """The device now stands at another site."""
    check_site(site)
    dev = _registered(s, device_id)
    if dev.site == site:
        raise RegistryError(f"device {device_id!r} is already at site {site!r}")
    before = _device_view(dev)
    dev.site = site
    audit.record(
        s, actor=actor, action="device.move", target=device_id, now=now,
        before=before, after=_device_view(dev),
    )  # fmt: skip
    bump(s)
    return dev


def block(s: Session, *, device_id: str, actor: str, now: datetime) -> UnregisteredDevice:
    """Drop (and count) the messages of a device the hub does not know."""
    check_device_id(device_id)
    dev = s.get(Device, device_id)
    if dev is not None and not dev.retired:
        raise RegistryError(f"device {device_id!r} is registered; retire it first")
    row = s.get(UnregisteredDevice, device_id)
    if row is not None and row.blocked:
        raise RegistryError(f"device {device_id!r} is already blocked")
    if row is None:
        row = UnregisteredDevice(id=device_id, first_seen=now, last_seen=now, count=0, claims={})
        s.add(row)
    row.blocked = True
    audit.record(
        s, actor=actor, action="device.block", target=device_id, now=now,
        before={"blocked": False}, after={"blocked": True},
    )  # fmt: skip
    bump(s)
    return row


def unblock(s: Session, *, device_id: str, actor: str, now: datetime) -> UnregisteredDevice:
    row = s.get(UnregisteredDevice, device_id)
    if row is None or not row.blocked:
        raise RegistryError(f"device {device_id!r} is not blocked")
    row.blocked = False
    audit.record(
        s, actor=actor, action="device.unblock", target=device_id, now=now,
        before={"blocked": True}, after={"blocked": False},
    )  # fmt: skip
    bump(s)
    return row


def devices(s: Session, *, retired: bool = False) -> list[Device]:
    q = select(Device).order_by(Device.id)
    if not retired:
        q = q.where(Device.retired.is_(False))
    return list(s.scalars(q))


def unregistered(s: Session, *, blocked: bool | None = None) -> list[UnregisteredDevice]:
    """Devices heard from but not registered, the most recently heard first."""
    q = select(UnregisteredDevice).order_by(
        UnregisteredDevice.last_seen.desc(), UnregisteredDevice.id
    )
    if blocked is not None:
        q = q.where(UnregisteredDevice.blocked.is_(blocked))
    return list(s.scalars(q))


def record_strangers(s: Session, strangers: Mapping[str, Stranger], *, now: datetime) -> None:
    """Count the messages of unknown devices (one row each, created on first sight).
    Devices registered meanwhile are skipped: their messages were classified before the
    hub took the registry change."""
    registered = set(
        s.scalars(
            select(Device.id).where(Device.id.in_(list(strangers)), Device.retired.is_(False))
        )
    )
    strangers = {d: seen for d, seen in strangers.items() if d not in registered}
    if not strangers:
        return
    rows = {
        r.id: r
        for r in s.scalars(
            select(UnregisteredDevice).where(UnregisteredDevice.id.in_(list(strangers)))
        )
    }
    for device, seen in strangers.items():
        row = rows.get(device)
        if row is None:
            row = UnregisteredDevice(
                id=device, first_seen=now, last_seen=now, count=0, claims={}, blocked=False
            )
            s.add(row)
        row.last_seen = now
        row.count += seen.count
        if seen.claims is not None:
            row.claims = dict(seen.claims)
