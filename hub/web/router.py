"""Serves the crew page, its browser libraries and the data it needs that is not in the API,
the operator page, the partner page and the fleet page (releases and rollouts).

The pages are static (HTML, CSS, JS in ``static/``) and talk to ``/api/v1`` with the user's
token. They share ``app.css`` and the module ``page.js`` (the sign-in form, the token, API
calls, the language switch), both under ``/crew/static/``. The crew map's library comes from ``node_modules/`` (installed from the npm
registry by ``make web``, never a CDN); without it the page draws positions alone. A strict
Content-Security-Policy allows only the pages' own files and the configured tile server's
images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final, Literal

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse

from hub.api.deps import Config
from hub.open311.services import SERVICES
from hub.web.tiles import csp

STATIC: Final = Path(__file__).resolve().parent / "static"
VENDOR: Final = Path(__file__).resolve().parent / "node_modules"
# page.js is the part all pages share; it lives here because the crew page's service worker
# keeps only /crew files for offline use.
_TYPES: Final = {
    "app.js": "text/javascript",
    "page.js": "text/javascript",
    "app.css": "text/css",
    "icon.svg": "image/svg+xml",
}
_LIBRARIES: Final = {
    "leaflet.js": ("leaflet/dist/leaflet.js", "text/javascript"),
    "leaflet.css": ("leaflet/dist/leaflet.css", "text/css"),
}
_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(tags=["crew page"])


def _headers(config: Config) -> dict[str, str]:
    return {**_HEADERS, "Content-Security-Policy": csp(config.tile_url)}


@router.get("/crew", include_in_schema=False)
def crew_redirect() -> RedirectResponse:
    return RedirectResponse("/crew/")


@router.get("/crew/", response_class=FileResponse, summary="The crew page (HTML)")
def crew_page(config: Config) -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=_headers(config))


@router.get("/crew/static/{name}", response_class=FileResponse, responses={404: {}})
def crew_static(
    name: Annotated[Literal["app.js", "page.js", "app.css", "icon.svg"], PathParam()],
    config: Config,
) -> FileResponse:
    path = STATIC / name
    if not path.is_file():
        raise HTTPException(404, detail=f"no file {name}")
    return FileResponse(path, media_type=_TYPES[name], headers=_headers(config))


@router.get("/crew/sw.js", response_class=FileResponse, summary="The crew page's service worker")
def service_worker(config: Config) -> FileResponse:
    return FileResponse(STATIC / "sw.js", media_type="text/javascript", headers=_headers(config))


@router.get("/crew/manifest.webmanifest", response_class=FileResponse, summary="Web app manifest")
def manifest(config: Config) -> FileResponse:
    path = STATIC / "manifest.webmanifest"
    return FileResponse(path, media_type="application/manifest+json", headers=_headers(config))


@router.get("/crew/vendor/{name}", response_class=FileResponse, responses={404: {}})
def crew_library(
    name: Annotated[Literal["leaflet.js", "leaflet.css"], PathParam()], config: Config
) -> FileResponse:
    """A browser library from the npm registry; 404 until ``make web`` installed it."""
    rel, media = _LIBRARIES[name]
    path = VENDOR / rel
    if not path.is_file():
        raise HTTPException(404, detail=f"{name} is not installed (run make web)")
    return FileResponse(path, media_type=media, headers=_headers(config))


@router.get("/crew/kinds.json", summary="Ticket kind names in Swedish and English")
def kinds() -> JSONResponse:
    return JSONResponse({s.code: {"sv": s.sv, "en": s.en} for s in SERVICES})


_OPERATOR_TYPES: Final = {"operator.js": "text/javascript", "operator.css": "text/css"}
# The operator page draws its zones itself, so it needs no tile server.
_OPERATOR_HEADERS: Final = {**_HEADERS, "Content-Security-Policy": csp("")}


@router.get("/operator", include_in_schema=False)
def operator_redirect() -> RedirectResponse:
    return RedirectResponse("/operator/")


@router.get("/operator/", response_class=FileResponse, summary="The operator page (HTML)")
def operator_page() -> FileResponse:
    return FileResponse(STATIC / "operator.html", media_type="text/html", headers=_OPERATOR_HEADERS)


@router.get("/operator/static/{name}", response_class=FileResponse, responses={404: {}})
def operator_static(
    name: Annotated[Literal["operator.js", "operator.css"], PathParam()],
) -> FileResponse:
    path = STATIC / name
    if not path.is_file():
        raise HTTPException(404, detail=f"no file {name}")
    return FileResponse(path, media_type=_OPERATOR_TYPES[name], headers=_OPERATOR_HEADERS)


@router.get("/crew/config.json", summary="The crew map's settings: tiles and the city's bounds")
def page_config(config: Config) -> JSONResponse:
    b = config.bounds
    return JSONResponse(
        {
            "tile_url": config.tile_url or None,
            "tile_attribution": config.tile_attribution,
            "bounds": [[b.min_lat, b.min_lon], [b.max_lat, b.max_lon]],
        }
    )


_PARTNER_TYPES: Final = {"partner.js": "text/javascript", "partner.css": "text/css"}


@router.get("/partner", include_in_schema=False)
def partner_redirect() -> RedirectResponse:
    return RedirectResponse("/partner/")


@router.get("/partner/", response_class=FileResponse, summary="The partner page (HTML)")
def partner_page(config: Config) -> FileResponse:
    return FileResponse(STATIC / "partner.html", media_type="text/html", headers=_headers(config))


@router.get("/partner/static/{name}", response_class=FileResponse, responses={404: {}})
def partner_static(
    name: Annotated[Literal["partner.js", "partner.css"], PathParam()], config: Config
) -> FileResponse:
    path = STATIC / name
    if not path.is_file():
        raise HTTPException(404, detail=f"no file {name}")
    return FileResponse(path, media_type=_PARTNER_TYPES[name], headers=_headers(config))


_FLEET_TYPES: Final = {"fleet.js": "text/javascript", "fleet.css": "text/css"}


@router.get("/fleet", include_in_schema=False)
def fleet_redirect() -> RedirectResponse:
    return RedirectResponse("/fleet/")


@router.get("/fleet/", response_class=FileResponse, summary="The fleet page: rollouts (HTML)")
def fleet_page() -> FileResponse:
    return FileResponse(STATIC / "fleet.html", media_type="text/html", headers=_OPERATOR_HEADERS)


@router.get("/fleet/static/{name}", response_class=FileResponse, responses={404: {}})
def fleet_static(name: Annotated[Literal["fleet.js", "fleet.css"], PathParam()]) -> FileResponse:
    path = STATIC / name
    if not path.is_file():
        raise HTTPException(404, detail=f"no file {name}")
    return FileResponse(path, media_type=_FLEET_TYPES[name], headers=_OPERATOR_HEADERS)
