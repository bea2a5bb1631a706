"""What Open311 shows to whom: the public, or a caller with a token.

Anyone may read Open311 without a key, so the anonymous view holds only what a citizen
could see on the street anyway: the kinds citizens may report, the status, and notes that a
crew member or operator published on purpose. Never crew notes (they carry residents'
names, phone numbers, door codes), never staff names, and never where a camera is blinded
or a pole device is down: that would be a live map of where surveillance has a hole.
Callers with a token see every ticket the ticket access rule (``hub.access``) allows.
"""

from __future__ import annotations

from typing import Final

from hub.open311.services import BY_CODE, SERVICES

# The kinds a citizen may report, and so may see reported.
PUBLIC_KINDS: Final = frozenset(s.code for s in SERVICES if s.citizen)
# Groups whose position, address, description and media stay private even when public.
PLACE_HIDDEN_GROUPS: Final = frozenset({"camera", "device"})


def public_kind(kind: str) -> bool:
    return kind in PUBLIC_KINDS


def hides_place(kind: str) -> bool:
    """True if the public must not learn where a ticket of this kind is."""
    svc = BY_CODE.get(kind)
    return svc is None or svc.group in PLACE_HIDDEN_GROUPS
