"""Messages from devices the hub does not know, as one batch saw them. Pure.

The classifier counts them per device (and what a birth claims the device to be) instead
of only dead-lettering them, so operators see who is knocking and can register or block
it; the ingest persists the counts once per commit (:func:`hub.registry.record_strangers`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from trygg import contract as c

# What a birth's claims keep of its asset list: enough to recognise a pole, bounded.
MAX_CLAIMED_ASSETS: Final = 64


@dataclass(frozen=True, slots=True)
class Stranger:
    """Messages of one unknown device within one batch."""

    count: int
    claims: Mapping[str, Any] | None  # from a birth: class, site, firmware, assets
    blocked: bool


def claims_of(payload: bytes) -> dict[str, Any] | None:
    """What a birth says its device is, or None if the payload is no valid birth."""
    try:
        birth = c.decode(c.Kind.BIRTH, payload)
    except c.ContractError:
        return None
    if not isinstance(birth, c.Birth):
        return None
    return {
        "device_class": birth.device_class,
        "site": birth.site,
        "firmware": birth.firmware,
        "assets": [
            {"id": a.id, "kind": a.kind.value, "lat": a.lat, "lon": a.lon}
            for a in birth.assets[:MAX_CLAIMED_ASSETS]
        ],
    }


def seen(
    strangers: dict[str, Stranger],
    device: str,
    *,
    blocked: bool,
    claims: Mapping[str, Any] | None = None,
) -> None:
    """Count one message of ``device``; the newest claims win."""
    was = strangers.get(device)
    strangers[device] = Stranger(
        count=1 if was is None else was.count + 1,
        claims=claims if claims is not None or was is None else was.claims,
        blocked=blocked,
    )


def merge(into: dict[str, Stranger], more: Mapping[str, Stranger]) -> dict[str, Stranger]:
    """Several batches' strangers as one mapping (counts added, the newest claims kept)."""
    for device, s in more.items():
        was = into.get(device)
        into[device] = (
            s
            if was is None
            else Stranger(
                count=was.count + s.count,
                claims=s.claims if s.claims is not None else was.claims,
                blocked=s.blocked,
            )
        )
    return into
