"""``/api/v1`` session, users and tokens: log in, see yourself, and (admins) manage access."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hub import audit, auth
from hub.api import errors
from hub.api.deps import Config, Context, DbSession
from hub.api.security import Admin, CurrentUser
from hub.api.text import Line
from hub.db import ApiToken, User

router = APIRouter(tags=["auth"], responses=errors.AUTHED)
Role = Literal["crew", "operator", "admin"]


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Line = Field(min_length=1, max_length=64)
    password: Line = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    token: str = Field(description="Shown once; store it, the hub keeps only its hash")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a scheme name, not a secret


class MeOut(BaseModel):
    name: str
    role: str
    area: str | None


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: Role
    area: Line | None = Field(default=None, min_length=1, max_length=64)
    password: Line | None = Field(default=None, min_length=8, max_length=200)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    role: str
    area: str | None
    active: bool


class NewTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: Literal["api", "open311"] = "api"
    label: Line = Field(default="", max_length=64)
    ttl_days: int | None = Field(default=None, ge=1, le=3650)


class TokenInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    scope: str
    prefix: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class IssuedToken(TokenInfo):
    token: str


Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/session", response_model=TokenOut, responses=errors.PUBLIC)
def log_in(db: DbSession, ctx: Context, config: Config, body: LoginIn) -> TokenOut:
    """Exchange a user name and password for a personal token valid for a working day."""
    try:
        token = auth.login(
            db,
            name=body.username,
            password=body.password,
            now=ctx.clock.now(),
            ttl=timedelta(hours=config.login_ttl_hours),
        )
    except auth.AuthError as exc:
        raise HTTPException(401, detail=str(exc)) from exc
    db.commit()
    return TokenOut(token=token)


@router.delete("/session", status_code=204)
def log_out(db: DbSession, ctx: Context, who: CurrentUser) -> None:
    """Revoke the token this request was made with."""
    auth.revoke_token(db, token_id=who.token_id, now=ctx.clock.now())
    db.commit()


@router.get("/me", response_model=MeOut)
def me(who: CurrentUser) -> MeOut:
    return MeOut(name=who.name, role=who.role, area=who.area)


@router.get("/users", response_model=list[UserOut])
def list_users(db: DbSession, who: Admin) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in db.scalars(select(User).order_by(User.id))]


@router.post(
    "/users", response_model=UserOut, status_code=201, responses={409: errors.CONFLICT[409]}
)
def add_user(db: DbSession, ctx: Context, who: Admin, body: UserIn) -> UserOut:
    try:
        user = auth.create_user(
            db,
            name=body.name,
            role=body.role,
            area=body.area,
            password=body.password,
            now=ctx.clock.now(),
        )
    except auth.AuthError as exc:
        raise HTTPException(409 if "exists" in str(exc) else 400, detail=str(exc)) from exc
    audit.record(
        db, actor=who.name, action="user.add", target=f"user:{user.name}", now=ctx.clock.now(),
        after={"role": user.role, "area": user.area, "active": True},
    )  # fmt: skip
    db.commit()
    return UserOut.model_validate(user)


@router.delete("/users/{user_id}", status_code=204, responses=errors.NOT_FOUND)
def deactivate_user(db: DbSession, ctx: Context, who: Admin, user_id: Id) -> None:
    """Switch a user off: every token of theirs stops working at once (history keeps the name)."""
    user = db.get(User, user_id)
    if user is None:
        raise HTTPException(404, detail=f"no user {user_id}")
    if user.id == who.user_id:
        raise HTTPException(400, detail="admins cannot switch themselves off")
    user.active = False
    audit.record(
        db, actor=who.name, action="user.disable", target=f"user:{user.name}",
        now=ctx.clock.now(), before={"active": True}, after={"active": False},
    )  # fmt: skip
    db.commit()


@router.post(
    "/users/{user_id}/tokens",
    response_model=IssuedToken,
    status_code=201,
    responses=errors.NOT_FOUND,
)
def add_token(
    db: DbSession, ctx: Context, who: Admin, user_id: Id, body: NewTokenIn
) -> IssuedToken:
    user = db.get(User, user_id)
    if user is None:
        raise HTTPException(404, detail=f"no user {user_id}")
    ttl = timedelta(days=body.ttl_days) if body.ttl_days else None
    row, plain = auth.issue_token(
        db, user=user, now=ctx.clock.now(), scope=body.scope, label=body.label, ttl=ttl
    )
    audit.record(
        db, actor=who.name, action="user.token", target=f"user:{user.name}",
        now=ctx.clock.now(), after={"token_id": row.id, "prefix": row.prefix, "scope": row.scope},
    )  # fmt: skip
    db.commit()
    return IssuedToken(**TokenInfo.model_validate(row).model_dump(), token=plain)


@router.get("/users/{user_id}/tokens", response_model=list[TokenInfo], responses=errors.NOT_FOUND)
def list_tokens(db: DbSession, who: Admin, user_id: Id) -> list[TokenInfo]:
    if db.get(User, user_id) is None:
        raise HTTPException(404, detail=f"no user {user_id}")
    rows = db.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id))
    return [TokenInfo.model_validate(r) for r in rows]


@router.delete("/tokens/{token_id}", status_code=204, responses=errors.NOT_FOUND)
def revoke(db: DbSession, ctx: Context, who: CurrentUser, token_id: Id) -> None:
    """Admins revoke any token; everyone else only their own."""
    row = db.get(ApiToken, token_id)
    if row is None or (row.user_id != who.user_id and not who.at_least("admin")):
        raise HTTPException(404, detail=f"no token {token_id}")
    auth.revoke_token(db, token_id=token_id, now=ctx.clock.now())
    db.commit()
