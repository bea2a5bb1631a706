"""Administration of users and crews: what ``trygg admin`` and the admin API call.

Each function works in the caller's transaction, validates first (:class:`AdminError`,
nothing changed), and records the change in the audit trail (:mod:`hub.audit`). Devices
are :mod:`hub.registry`'s.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import audit, auth
from hub.crew_geojson import CrewSpec
from hub.crews import CrewError, upsert_crew
from hub.db import Crew, User

_PASSWORD_BYTES = 18  # 24 URL-safe characters


class AdminError(ValueError):
    """An administrative change that cannot be made; the message says why."""


@dataclass(frozen=True, slots=True)
class Initialised:
    name: str
    password: str  # shown once
    token: str  # shown once


def _user_view(user: User) -> dict[str, Any]:
    return {"role": user.role, "area": user.area, "active": user.active}


def _crew_view(crew: Crew) -> dict[str, Any]:
    return {
        "name": crew.name,
        "area": crew.area,
        "rank": crew.rank,
        "kinds": crew.kinds.get("kinds", []),
        "polygon": crew.polygon.get("coordinates", []),
        "active": crew.active,
    }


def initialised(s: Session) -> bool:
    return s.scalars(select(User.id).where(User.role == "admin")).first() is not None


def init(s: Session, *, name: str, actor: str, now: datetime) -> Initialised:
    """The first admin with a generated password and token (both returned once);
    AdminError if the installation has an admin already."""
    if initialised(s):
        raise AdminError("already initialised: an admin exists (use `trygg admin users`)")
    password = secrets.token_urlsafe(_PASSWORD_BYTES)
    user = _create(s, name=name, role="admin", area=None, password=password, now=now)
    _, token = auth.issue_token(s, user=user, now=now, label="init")
    audit.record(
        s, actor=actor, action="admin.init", target=f"user:{name}", now=now,
        after=_user_view(user),
    )  # fmt: skip
    return Initialised(name=name, password=password, token=token)


def _create(
    s: Session, *, name: str, role: str, area: str | None, password: str | None, now: datetime
) -> User:
    if not name or len(name) > 64:
        raise AdminError("a user name must be 1..64 characters")
    try:
        return auth.create_user(s, name=name, role=role, area=area, password=password, now=now)
    except auth.AuthError as exc:
        raise AdminError(str(exc)) from exc


def _user(s: Session, name: str) -> User:
    user = s.scalars(select(User).where(User.name == name)).first()
    if user is None:
        raise AdminError(f"no user {name!r}")
    return user


def add_user(
    s: Session,
    *,
    name: str,
    role: str,
    area: str | None,
    actor: str,
    now: datetime,
    password: str | None = None,
) -> User:
    """A new staff user; partner users are made with their organisation, which
    :func:`add_account` is for, so no partner account exists without one."""
    if role == auth.PARTNER:
        raise AdminError(
            "a partner user belongs to an organisation: add it with `trygg partners user-add`"
        )
    return add_account(s, name=name, role=role, area=area, actor=actor, now=now, password=password)


def add_account(
    s: Session,
    *,
    name: str,
    role: str,
    area: str | None,
    actor: str,
    now: datetime,
    password: str | None = None,
) -> User:
    """A new user of any role, audited; the caller ties a partner to its organisation."""
    if password is not None and len(password) < 8:
        raise AdminError("a password needs at least 8 characters")
    user = _create(s, name=name, role=role, area=area, password=password, now=now)
    audit.record(
        s, actor=actor, action="user.add", target=f"user:{name}", now=now,
        after=_user_view(user),
    )  # fmt: skip
    return user


def set_role(
    s: Session, *, name: str, role: str, area: str | None, actor: str, now: datetime
) -> User:
    """Change a user's role (and area: crews need one)."""
    if role not in auth.ROLES:
        raise AdminError(f"unknown role {role!r}; expected one of {', '.join(auth.ROLES)}")
    user = _user(s, name)
    if user.role == auth.PARTNER:
        raise AdminError(
            f"{name!r} is a partner account and stays one: disable it and add a staff user"
        )
    area = area if area is not None else user.area
    if role == "crew" and not area:
        raise AdminError("a crew user needs an area (--area)")
    before = _user_view(user)
    _keep_an_admin(s, user, losing=user.role == "admin" and role != "admin")
    user.role, user.area = role, area
    audit.record(
        s, actor=actor, action="user.role", target=f"user:{name}", now=now,
        before=before, after=_user_view(user),
    )  # fmt: skip
    return user


def _keep_an_admin(s: Session, user: User, *, losing: bool) -> None:
    if not losing:
        return
    others = s.scalars(
        select(User.id).where(User.role == "admin", User.active.is_(True), User.id != user.id)
    ).first()
    if others is None:
        raise AdminError(f"{user.name!r} is the last active admin; make another admin first")


def token(s: Session, *, name: str, label: str, scope: str, actor: str, now: datetime) -> str:
    """A new token for the user (returned once)."""
    user = _user(s, name)
    if not user.active:
        raise AdminError(f"user {name!r} is disabled")
    try:
        row, plain = auth.issue_token(s, user=user, now=now, scope=scope, label=label)
    except auth.AuthError as exc:
        raise AdminError(str(exc)) from exc
    audit.record(
        s, actor=actor, action="user.token", target=f"user:{name}", now=now,
        after={"token_id": row.id, "prefix": row.prefix, "scope": scope, "label": row.label},
    )  # fmt: skip
    return plain


def disable(s: Session, *, name: str, actor: str, now: datetime) -> User:
    """The user can no longer log in or use any token."""
    user = _user(s, name)
    if not user.active:
        raise AdminError(f"user {name!r} is already disabled")
    _keep_an_admin(s, user, losing=user.role == "admin")
    before = _user_view(user)
    user.active = False
    audit.record(
        s, actor=actor, action="user.disable", target=f"user:{name}", now=now,
        before=before, after=_user_view(user),
    )  # fmt: skip
    return user


def users(s: Session) -> list[User]:
    return list(s.scalars(select(User).order_by(User.name)))


@dataclass(frozen=True, slots=True)
class Imported:
    created: int
    updated: int
    unchanged: int


def import_crews(s: Session, specs: Sequence[CrewSpec], *, actor: str, now: datetime) -> Imported:
    """Create or update each crew (idempotent: a re-import changes and audits nothing)."""
    created = updated = unchanged = 0
    for spec in specs:
        existing = s.get(Crew, spec.crew_id)
        before = _crew_view(existing) if existing is not None else None
        try:
            crew = upsert_crew(
                s, crew_id=spec.crew_id, name=spec.name, area=spec.area,
                polygon=spec.polygon, kinds=spec.kinds, rank=spec.rank,
            )  # fmt: skip
        except CrewError as exc:
            raise AdminError(f"crew {spec.crew_id!r}: {exc}") from exc
        after = _crew_view(crew)
        if before == after:
            unchanged += 1
            continue
        if before is None:
            created += 1
        else:
            updated += 1
        audit.record(
            s, actor=actor, action="crew.import", target=f"crew:{spec.crew_id}", now=now,
            before=before, after=after,
        )  # fmt: skip
    return Imported(created=created, updated=updated, unchanged=unchanged)
