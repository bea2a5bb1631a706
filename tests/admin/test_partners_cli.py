"""``trygg partners`` on SQLite and PostgreSQL: organisations, places and users are made,
refusals change nothing and exit 1, and every change is audited with the actor."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from hub import audit
from hub.db import User, open_database
from hub.partners import orgs
from hub.places import make_place
from hub.places_store import save_places
from tests.api.partner_world import TORGET
from trygg.cli import main

pytestmark = pytest.mark.integration


def test_partners_from_the_command_line(
    sql_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = open_database(sql_url)
    with sessions.begin() as s:
        save_places(s, [make_place("Torget", "square", TORGET)], now=datetime.now(UTC))

    def run(*argv: str) -> int:
        return main(["partners", *argv, "--database-url", sql_url, "--actor", "tester"])

    assert run("add", "Centrumägarna", "--kind", "centre") == 0
    assert run("add", "Centrumägarna", "--kind", "centre") == 1  # taken
    assert run("add", "Piraterna", "--kind", "pirates") == 1
    assert run("place-add", "Centrumägarna", "Nowhere") == 1
    assert run("place-add", "Centrumägarna", "Torget") == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("hemligt-12\n"))
    assert run("user-add", "Centrumägarna", "vera", "--password-stdin") == 0
    assert run("user-add", "Nobody", "x1") == 1
    # A partner account is made only with its organisation, and never turns into staff.
    admin_run = ["admin", "users", "--database-url", sql_url, "--actor", "tester"]
    assert main([*admin_run[:2], "add", "loose", "--role", "partner", *admin_run[2:]]) == 1
    assert main([*admin_run[:2], "role", "vera", "admin", *admin_run[2:]]) == 1
    capsys.readouterr()
    assert run("list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == [
        {"name": "Centrumägarna", "kind": "centre", "places": "Torget", "users": "vera"}
    ]
    with sessions() as s:
        assert [o.name for o in orgs.orgs(s)] == ["Centrumägarna"]
        roles = {u.name: u.role for u in s.scalars(select(User))}
        assert roles == {"vera": "partner"}
        rows = audit.entries(s, target="partner:Centrumägarna")
        assert [(e.actor, e.action) for e in rows] == [
            ("tester", "partner.user.add"),
            ("tester", "partner.place.add"),
            ("tester", "partner.add"),
        ]
    assert run("place-remove", "Centrumägarna", "Torget") == 0
    assert run("remove", "Centrumägarna") == 0
    assert run("remove", "Centrumägarna") == 1
    with sessions() as s:
        assert orgs.orgs(s) == []
    sessions.kw["bind"].dispose()
