"""Serves the crew page (and the one data file it needs that is not in the API) and the
operator page.

The pages are static (HTML, CSS, JS in ``static/``) and talk to ``/api/v1`` with the user's
token; a strict Content-Security-Policy allows only their own files, so they need
no map tile server or CDN and work where only the hub is reachable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final, Literal

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse

from hub.open311.services import SERVICES

STATIC: Final = Path(__file__).resolve().parent / "static"
_TYPES: Final = {"app.js": "text/javascript", "app.css": "text/css"}
_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(tags=["crew page"])


@router.get("/crew", include_in_schema=False)
def crew_redirect() -> RedirectResponse:
    return RedirectResponse("/crew/")


@router.get("/crew/", response_class=FileResponse, summary="The crew page (HTML)")
def crew_page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=_HEADERS)


@router.get("/crew/static/{name}", response_class=FileResponse, responses={404: {}})
def crew_static(name: Annotated[Literal["app.js", "app.css"], PathParam()]) -> FileResponse:
    path = STATIC / name
    if not path.is_file():
        raise HTTPException(404, detail=f"no file {name}")
    return FileResponse(path, media_type=_TYPES[name], headers=_HEADERS)


@router.get("/crew/kinds.json", summary="Ticket kind names in Swedish and English")
def kinds() -> JSONResponse:
    return JSONResponse({s.code: {"sv": s.sv, "en": s.en} for s in SERVICES})


_OPERATOR_TYPES: Final = {"operator.js": "text/javascript", "operator.css": "text/css"}


@router.get("/operator", include_in_schema=False)
def operator_redirect() -> RedirectResponse:
    return RedirectResponse("/operator/")


@router.get("/operator/", response_class=FileResponse, summary="The operator page (HTML)")
def operator_page() -> FileResponse:
    return FileResponse(STATIC / "operator.html", media_type="text/html", headers=_HEADERS)


@router.get("/operator/static/{name}", response_class=FileResponse, responses={404: {}})
def operator_static(
    name: Annotated[Literal["operator.js", "operator.css"], PathParam()],
) -> FileResponse:
    path = STATIC / name
    if not path.is_file():
        raise HTTPException(404, detail=f"no file {name}")
    return FileResponse(path, media_type=_OPERATOR_TYPES[name], headers=_HEADERS)
