"""Users, roles and API tokens: who may call the hub's API and what they may touch.

Tokens are 256-bit random strings shown once; the database keeps only their SHA-256, so a
leaked database does not leak usable tokens (a slow hash adds nothing for random secrets of
this length, and a fast one keeps each request's check cheap). Passwords, which people
choose, are stored with scrypt. Every function takes ``now`` so tests drive time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.db import ApiToken, User

ROLES: Final = ("crew", "operator", "admin")
# A partner is no staff role: it ranks below every one, and its tokens open only the partner
# API (``authenticate(..., partner=True)``), so no staff check can let one through.
PARTNER: Final = "partner"
_RANK: Final = {PARTNER: -1} | {role: i for i, role in enumerate(ROLES)}
SCOPES: Final = ("api", "open311")
TOKEN_PREFIX: Final = "tr_"  # noqa: S105 - a visible prefix, not a secret
_SCRYPT: Final = {"n": 2**14, "r": 8, "p": 1}
# Checked for unknown names so that they cost the same scrypt run as known ones; a random
# key that no password derives to.
_DUMMY_HASH: Final = f"scrypt${secrets.token_hex(16)}${secrets.token_hex(32)}"


class AuthError(ValueError):
    """Bad credentials, an unknown user or an invalid role; the message says which."""


class WrongAudienceError(AuthError):
    """A valid token used where its kind of user may not go: a partner's on the staff API,
    or a staff member's on the partner API."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request, as the API's permission checks see it."""

    user_id: int
    name: str
    role: str
    area: str | None
    token_id: int

    def at_least(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[role]

    def sees_area(self, area: str | None) -> bool:
        """Crews see only their own area's tickets; operators and admins see all."""
        return self.at_least("operator") or (self.area is not None and area == self.area)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    dk = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${salt.hex()}${dk.hex()}"


def check_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt_hex, dk_hex = stored.split("$", 2)
    dk = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), dklen=32, **_SCRYPT)
    return hmac.compare_digest(dk.hex(), dk_hex)


def create_user(
    s: Session,
    *,
    name: str,
    role: str,
    now: datetime,
    area: str | None = None,
    password: str | None = None,
) -> User:
    """Add a user; AuthError for an unknown role, a crew without area or a taken name.

    ``partner`` users are made by :mod:`hub.partners.orgs`, which ties them to their
    organisation in the same transaction."""
    if role not in (*ROLES, PARTNER):
        raise AuthError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if role == "crew" and not area:
        raise AuthError("a crew user needs an area")
    if s.scalars(select(User).where(User.name == name)).first() is not None:
        raise AuthError(f"user {name!r} exists")
    user = User(
        name=name,
        role=role,
        area=area,
        password_hash=hash_password(password) if password else None,
        active=True,
        created_at=now,
    )
    s.add(user)
    s.flush()
    return user


def issue_token(
    s: Session,
    *,
    user: User,
    now: datetime,
    scope: str = "api",
    label: str = "",
    ttl: timedelta | None = None,
) -> tuple[ApiToken, str]:
    """A new token for ``user``; the plain token is returned here and never again."""
    if scope not in SCOPES:
        raise AuthError(f"unknown scope {scope!r}")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        scope=scope,
        digest=digest(plain),
        prefix=plain[:10],
        label=label[:64],
        created_at=now,
        expires_at=now + ttl if ttl else None,
    )
    s.add(row)
    s.flush()
    return row, plain


def revoke_token(s: Session, *, token_id: int, now: datetime) -> ApiToken:
    row = s.get(ApiToken, token_id)
    if row is None:
        raise AuthError(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
    return row


def authenticate(
    s: Session, *, token: str, now: datetime, scope: str = "api", partner: bool = False
) -> Principal:
    """The principal behind ``token``; AuthError if unknown, revoked, expired or inactive,
    WrongAudienceError if a partner's token is used for staff (``partner=False``, every
    caller but the partner API) or a staff token for the partner API (``partner=True``)."""
    row = s.scalars(select(ApiToken).where(ApiToken.digest == digest(token))).first()
    if row is None or row.scope != scope:
        raise AuthError("unknown token")
    if row.revoked_at is not None:
        raise AuthError("token revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise AuthError("token expired")
    user = s.get(User, row.user_id)
    if user is None or not user.active:
        raise AuthError("user disabled")
    if (user.role == PARTNER) != partner:
        raise WrongAudienceError(
            "a partner account opens only /api/v1/partner"
            if not partner
            else "only partner accounts use /api/v1/partner"
        )
    row.last_used_at = now
    return Principal(user.id, user.name, user.role, user.area, row.id)


def login(s: Session, *, name: str, password: str, now: datetime, ttl: timedelta) -> str:
    """A session token for a name and password; one message for every failure.

    Every attempt runs one scrypt check, whether the name exists or not, so the answer's
    timing does not tell which user names exist.
    """
    user = s.scalars(select(User).where(User.name == name)).first()
    usable = user is not None and user.active and bool(user.password_hash)
    stored = user.password_hash if user is not None and usable else None
    matches = check_password(password, stored or _DUMMY_HASH)
    if user is None or not usable or not matches:
        raise AuthError("wrong user name or password")
    _, plain = issue_token(s, user=user, now=now, label="login", ttl=ttl)
    return plain


def bootstrap_token(
    sessions: sessionmaker[Session],
    *,
    name: str,
    role: str,
    now: datetime,
    area: str | None = None,
    scope: str = "api",
    password: str | None = None,
) -> str:
    """Create (or reuse) a user and return a fresh token: for setup scripts, demo and tests.

    ``password`` (for a new user) lets them log in on the crew page as well.
    """
    with sessions.begin() as s:
        user = s.scalars(select(User).where(User.name == name)).first()
        if user is None:
            user = create_user(s, name=name, role=role, area=area, now=now, password=password)
        _, plain = issue_token(s, user=user, now=now, scope=scope, label="bootstrap")
    return plain
