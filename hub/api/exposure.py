"""The hub's self-descriptions: the OpenAPI document and Prometheus metrics, open or not.

Useful in development and to integrators, but on the internet they map the attack surface
and the load; ``ApiConfig.docs_access`` / ``metrics_access`` make each ``public``,
``operator`` (an operator's or admin's bearer token) or ``off`` (404).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials

from hub.api.config import ApiConfig
from hub.api.deps import Context, DbSession
from hub.api.security import bearer, current_principal

Creds = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def check(access: str, request: Request, ctx: Context, db: DbSession, creds: Creds) -> None:
    """Pass, or refuse: 404 when ``off``, 401/403 when ``operator`` and the caller is not."""
    if access == "public":
        return
    if access != "operator":
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Not Found")
    who = current_principal(request, ctx, db, creds)
    if not who.at_least("operator"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="needs the operator role")


def metrics_guard(request: Request, ctx: Context, db: DbSession, creds: Creds) -> None:
    check(ctx.config.metrics_access, request, ctx, db, creds)


def docs_urls(config: ApiConfig) -> dict[str, Any]:
    """FastAPI's own docs routes: only when the document is public."""
    if config.docs_access == "public":
        return {}
    return {"openapi_url": None, "docs_url": None, "redoc_url": None}


def install_docs(app: FastAPI, config: ApiConfig) -> None:
    """With ``operator`` access, ``/openapi.json`` answers bearer-token callers only."""
    if config.docs_access != "operator":
        return

    def guard(request: Request, ctx: Context, db: DbSession, creds: Creds) -> None:
        check("operator", request, ctx, db, creds)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(guard)])
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())
