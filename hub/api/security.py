"""Who is calling: bearer-token authentication and role checks as FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from hub import auth
from hub.api.deps import Context, DbSession, HubContext

bearer = HTTPBearer(
    auto_error=False,
    description="A personal API token (`Authorization: Bearer tr_...`), see POST /api/v1/session.",
)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def client_ip(request: Request) -> str:
    """The caller's address as the limits middleware found it (trusted proxies applied)."""
    found = getattr(request.state, "client_ip", None)
    if isinstance(found, str):
        return found
    return request.client.host if request.client else "?"


def _authenticated(
    request: Request,
    ctx: HubContext,
    db: Session,
    creds: HTTPAuthorizationCredentials | None,
    *,
    partner: bool,
) -> auth.Principal:
    if creds is None or not creds.credentials:
        raise _unauthorized("missing bearer token")
    try:
        principal = auth.authenticate(
            db, token=creds.credentials, now=ctx.clock.now(), partner=partner
        )
    except auth.WrongAudienceError as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=str(exc)) from exc
    except auth.AuthError as exc:
        # A made-up token must not buy unlimited guesses: failures count as anonymous calls.
        # The middleware already charged a token it did not know; this one it took as valid.
        charged = getattr(request.state, "anon_charged", False)
        if not charged and (wait := ctx.anon_limiter.take(client_ip(request))) > 0:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                detail="rate limit exceeded; retry later",
                headers={"Retry-After": str(max(1, round(wait)))},
            ) from exc
        raise _unauthorized(str(exc)) from exc
    db.commit()  # last_used_at
    return principal


def current_principal(
    request: Request,
    ctx: Context,
    db: DbSession,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> auth.Principal:
    """The authenticated staff caller; 401 when the token is missing, unknown or revoked,
    403 for a partner's token."""
    return _authenticated(request, ctx, db, creds, partner=False)


def current_partner_principal(
    request: Request,
    ctx: Context,
    db: DbSession,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> auth.Principal:
    """The authenticated partner user; 401 as above, 403 for a staff token."""
    return _authenticated(request, ctx, db, creds, partner=True)


CurrentUser = Annotated[auth.Principal, Depends(current_principal)]


def require(role: str) -> object:
    def check(who: CurrentUser) -> auth.Principal:
        if not who.at_least(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"needs the {role} role")
        return who

    return Depends(check)


Operator = Annotated[auth.Principal, require("operator")]
Admin = Annotated[auth.Principal, require("admin")]
