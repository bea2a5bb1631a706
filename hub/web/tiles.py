"""The crew map's tile server: its URL template checked, and the origin the CSP allows."""

from __future__ import annotations

from urllib.parse import urlsplit

_PLACEHOLDERS = ("{z}", "{x}", "{y}")


def tile_origin(url: str) -> str:
    """``scheme://host[:port]`` of a tile URL template; ValueError says what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("tile_url must be an http(s) URL with a host")
    if any(p not in url for p in _PLACEHOLDERS):
        raise ValueError("tile_url must contain {z}, {x} and {y}")
    if any(c in parts.netloc for c in "{}*; '\""):
        raise ValueError("tile_url's host must be a plain name (no {s} sub-domains or wildcards)")
    return f"{parts.scheme}://{parts.netloc}"


def csp(tile_url: str) -> str:
    """The crew page's Content-Security-Policy: its own files, plus the tile server's images."""
    tiles = f" {tile_origin(tile_url)}" if tile_url else ""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data: blob:{tiles}; connect-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'; manifest-src 'self'"
    )
