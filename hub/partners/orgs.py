"""Partner organisations, the places each sees and its users: what ``trygg partners`` and the
admin API call.

Each change works in the caller's transaction, validates first (:class:`PartnerError`,
nothing changed) and records itself in the audit trail, as :mod:`hub.admin` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import admin, audit, auth
from hub.db import PartnerOrg, PartnerPlace, PartnerUser, PlaceRow, User

KINDS: Final = ("property", "centre", "police", "security", "other")
NAME: Final = re.compile(r"^[\w][\w .&\-]{0,62}$")


class PartnerError(admin.AdminError):
    """A partner change that cannot be made; the message says why."""


class PartnerNotFoundError(PartnerError):
    """No such organisation, place, or link between them."""


@dataclass(frozen=True, slots=True)
class Org:
    """An organisation as its users and admins see it."""

    name: str
    kind: str
    places: tuple[str, ...]
    users: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Membership:
    """Which organisation a partner user belongs to and the places it sees."""

    org: str
    places: frozenset[str]


def _org(s: Session, name: str) -> PartnerOrg:
    row = s.scalars(select(PartnerOrg).where(PartnerOrg.name == name)).first()
    if row is None:
        raise PartnerNotFoundError(f"no partner organisation {name!r}")
    return row


def _places(s: Session, org_id: int) -> tuple[str, ...]:
    q = select(PartnerPlace.place).where(PartnerPlace.org_id == org_id).order_by(PartnerPlace.place)
    return tuple(s.scalars(q))


def _users(s: Session, org_id: int) -> tuple[str, ...]:
    q = (
        select(User.name)
        .join(PartnerUser, PartnerUser.user_id == User.id)
        .where(PartnerUser.org_id == org_id)
        .order_by(User.name)
    )
    return tuple(s.scalars(q))


def _view(s: Session, row: PartnerOrg) -> Org:
    return Org(row.name, row.kind, _places(s, row.id), _users(s, row.id))


def add_org(s: Session, *, name: str, kind: str, actor: str, now: datetime) -> Org:
    """A new organisation; PartnerError for a bad or taken name or an unknown kind."""
    if not NAME.match(name):
        raise PartnerError(f"organisation name {name!r}: letters, digits, space, . & -, up to 63")
    if kind not in KINDS:
        raise PartnerError(f"organisation kind {kind!r}: one of {', '.join(KINDS)}")
    if s.scalars(select(PartnerOrg.id).where(PartnerOrg.name == name)).first() is not None:
        raise PartnerError(f"partner organisation {name!r} exists")
    row = PartnerOrg(name=name, kind=kind, created_at=now)
    s.add(row)
    s.flush()
    audit.record(
        s, actor=actor, action="partner.add", target=f"partner:{name}", now=now,
        after={"kind": kind},
    )  # fmt: skip
    return _view(s, row)


def remove_org(s: Session, *, name: str, actor: str, now: datetime) -> None:
    """Delete the organisation; its users are disabled (kept for the audit trail's sake)."""
    row = _org(s, name)
    before = _view(s, row)
    users = s.scalars(
        select(User)
        .join(PartnerUser, PartnerUser.user_id == User.id)
        .where(PartnerUser.org_id == row.id)
    )
    for user in users:
        user.active = False
    s.delete(row)
    s.flush()
    audit.record(
        s, actor=actor, action="partner.remove", target=f"partner:{name}", now=now,
        before={"kind": before.kind, "places": list(before.places), "users": list(before.users)},
    )  # fmt: skip


def orgs(s: Session) -> list[Org]:
    return [_view(s, r) for r in s.scalars(select(PartnerOrg).order_by(PartnerOrg.name))]


def get_org(s: Session, name: str) -> Org:
    """The organisation called ``name``; PartnerError if there is none."""
    return _view(s, _org(s, name))


def link_place(s: Session, *, org: str, place: str, actor: str, now: datetime) -> Org:
    """Let ``org`` see ``place``; PartnerError for an unknown organisation or place."""
    row = _org(s, org)
    if s.get(PlaceRow, place) is None:
        raise PartnerNotFoundError(f"no place called {place!r}")
    if s.get(PartnerPlace, (row.id, place)) is None:
        s.add(PartnerPlace(org_id=row.id, place=place))
        s.flush()
        audit.record(
            s, actor=actor, action="partner.place.add", target=f"partner:{org}", now=now,
            after={"place": place},
        )  # fmt: skip
    return _view(s, row)


def unlink_place(s: Session, *, org: str, place: str, actor: str, now: datetime) -> Org:
    """Stop ``org`` seeing ``place``; PartnerError if it did not."""
    row = _org(s, org)
    link = s.get(PartnerPlace, (row.id, place))
    if link is None:
        raise PartnerNotFoundError(f"{org!r} does not see {place!r}")
    s.delete(link)
    s.flush()
    audit.record(
        s, actor=actor, action="partner.place.remove", target=f"partner:{org}", now=now,
        before={"place": place},
    )  # fmt: skip
    return _view(s, row)


def add_user(
    s: Session,
    *,
    org: str,
    name: str,
    actor: str,
    now: datetime,
    password: str | None = None,
) -> User:
    """A new ``partner`` user of ``org`` (audited as any new user, and as a member)."""
    row = _org(s, org)
    user = admin.add_account(
        s, name=name, role=auth.PARTNER, area=None, password=password, actor=actor, now=now
    )
    s.add(PartnerUser(user_id=user.id, org_id=row.id))
    s.flush()
    audit.record(
        s, actor=actor, action="partner.user.add", target=f"partner:{org}", now=now,
        after={"user": name},
    )  # fmt: skip
    return user


def membership(s: Session, *, user_id: int) -> Membership | None:
    """The organisation of a partner user and its places; None for a user in none."""
    q = (
        select(PartnerOrg)
        .join(PartnerUser, PartnerUser.org_id == PartnerOrg.id)
        .where(PartnerUser.user_id == user_id)
    )
    row = s.scalars(q).first()
    if row is None:
        return None
    return Membership(row.name, frozenset(_places(s, row.id)))
