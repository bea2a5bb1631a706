"""The pages' own files as the hub serves them: every module a page loads, and every module
those import, is served as JavaScript with the page's headers; the crew page's service worker
keeps every file the crew page needs, so the page opens without a network."""

from __future__ import annotations

import re

import pytest

from hub.web.router import STATIC
from tests.api.conftest import Hub

PAGES = ("/crew/", "/operator/", "/fleet/", "/partner/")
_MODULE = re.compile(r'<script type="module" src="([^"]+)"></script>')
_IMPORT = re.compile(r'^import [^;]+ from "([^"]+)";$', re.MULTILINE)
_LINK = re.compile(r'<link rel="(?:stylesheet|icon|manifest)" href="(/[^"]+)"')
_SHELL = re.compile(r"const SHELL = \[([^\]]*)\];")
_SHARED_HEADERS = ("content-security-policy", "x-content-type-options", "cache-control")


def _modules(hub: Hub, entry: list[str]) -> set[str]:
    """The modules ``entry`` names and all they import, each fetched once from the hub."""
    seen: set[str] = set()
    todo = list(entry)
    while todo:
        src = todo.pop()
        if src in seen:
            continue
        seen.add(src)
        r = hub.client.get(src)
        assert r.status_code == 200, src
        todo.extend(_IMPORT.findall(r.text))
    return seen


@pytest.mark.parametrize("path", PAGES)
def test_every_module_a_page_loads_is_served_with_the_pages_headers(hub: Hub, path: str) -> None:
    page = hub.client.get(path)
    assert page.status_code == 200
    entry = _MODULE.findall(page.text)
    assert entry, "the page loads no module"
    modules = _modules(hub, entry)
    assert "/crew/static/page.js" in modules  # every page shares the one module
    for src in modules:
        got = hub.client.get(src)
        assert got.headers["content-type"].startswith("text/javascript"), src
        for name in _SHARED_HEADERS:
            assert got.headers[name] == page.headers[name], (src, name)


def test_the_service_worker_keeps_every_file_the_crew_page_needs(hub: Hub) -> None:
    page = hub.client.get("/crew/").text
    needed = {"/crew/", *_LINK.findall(page), *_modules(hub, _MODULE.findall(page))}
    found = _SHELL.search((STATIC / "sw.js").read_text(encoding="utf-8"))
    assert found is not None, "sw.js has no SHELL list"
    shell = set(re.findall(r'"([^"]+)"', found.group(1)))
    assert needed - shell == set()
    assert "/crew/static/page.js" in needed
