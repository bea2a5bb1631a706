"""``trygg admin`` on real SQLite and PostgreSQL: every change validated, audited, and
refused without a trace when wrong; no connection left open after a run."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from hub import auth, registry
from hub.db import AuditEntry, Crew, User, open_database
from tests.admin.test_crew_geojson import SQUARE, collection, feature
from trygg.cli import main

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(sql_url: str, capsys: pytest.CaptureFixture[str]) -> Run:
    def _run(*argv: str) -> tuple[int, str, str]:
        code = main(["admin", *argv, "--database-url", sql_url, "--actor", "tester"])
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run


def _count(sql_url: str, model: Any) -> int:
    sessions = open_database(sql_url)
    try:
        with sessions() as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        sessions.kw["bind"].dispose()


def _json(run: Run, *argv: str) -> list[dict[str, Any]]:
    code, out, err = run(*argv, "--json")
    assert code == 0, err
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def test_init_prints_a_working_password_and_token_once_and_refuses_a_second_time(
    run: Run, sql_url: str
) -> None:
    code, out, _ = run("init", "--name", "it-admin")
    assert code == 0
    fields = dict(
        line.split(":", 1) for line in out.splitlines() if line.startswith(("password", "token"))
    )
    token, password = fields["token"].strip(), fields["password"].strip()
    sessions = open_database(sql_url)
    try:
        with sessions.begin() as s:
            who = auth.authenticate(s, token=token, now=datetime.now(UTC))
            assert (who.name, who.role) == ("it-admin", "admin")
            assert auth.check_password(password, s.scalars(select(User.password_hash)).one())
    finally:
        sessions.kw["bind"].dispose()
    code, out, err = run("init", "--name", "another")
    assert code == 1
    assert "already initialised" in err
    assert token not in out
    assert _count(sql_url, User) == 1
    assert [e["action"] for e in _json(run, "audit")] == ["admin.init"]


def test_users_are_added_changed_and_refused_with_reasons(run: Run, sql_url: str) -> None:
    assert run("init")[0] == 0
    assert run("users", "add", "ola", "--role", "crew", "--area", "centrum")[0] == 0
    for argv, reason in [
        (("users", "add", "eve", "--role", "wizard"), "unknown role 'wizard'"),
        (("users", "add", "ola", "--role", "operator"), "exists"),
        (("users", "add", "kim", "--role", "crew"), "needs an area"),
        (("users", "role", "admin", "operator"), "last active admin"),
        (("users", "role", "nobody", "operator"), "no user 'nobody'"),
        (("users", "disable", "admin"), "last active admin"),
    ]:
        code, _, err = run(*argv)
        assert (code, reason in err) == (1, True), (argv, err)
    assert run("users", "role", "ola", "operator")[0] == 0
    code, token, _ = run("users", "token", "ola", "--label", "laptop")
    assert code == 0
    assert token.strip().startswith(auth.TOKEN_PREFIX)
    assert run("users", "disable", "ola")[0] == 0
    users = {u["name"]: u for u in _json(run, "users", "list")}
    assert users["ola"] == {"name": "ola", "role": "operator", "area": "centrum", "active": False}
    trail = _json(run, "audit", "--target", "user:ola")
    assert [e["action"] for e in trail] == ["user.disable", "user.token", "user.role", "user.add"]
    assert all(e["actor"] == "tester" for e in trail)
    role = trail[2]
    assert json.loads(role["before"])["role"] == "crew"
    assert json.loads(role["after"])["role"] == "operator"


def test_crews_import_is_idempotent_and_a_bad_file_changes_nothing(
    run: Run, sql_url: str, tmp_path: Path
) -> None:
    good = tmp_path / "crews.geojson"
    good.write_text(
        collection(
            feature({"id": "crew-c", "area": "centrum", "name": "Centrum", "rank": 10}),
            feature({"id": "crew-n", "area": "norr", "kinds": ["lamp_out"]}),
        )
    )
    assert run("crews", "import", str(good))[1].endswith("2 created, 0 updated, 0 unchanged\n")
    assert run("crews", "import", str(good))[1].endswith("0 created, 0 updated, 2 unchanged\n")
    assert len(_json(run, "audit", "--action", "crew.import")) == 2
    bad = tmp_path / "bad.geojson"
    bad.write_text(
        collection(
            feature({"id": "crew-c", "area": "elsewhere"}),
            feature(
                {"id": "crew-x", "area": "x"}, {"type": "Polygon", "coordinates": [SQUARE[:3]]}
            ),
        )
    )
    code, _, err = run("crews", "import", str(bad))
    assert code == 1
    assert "feature 1 (crew 'crew-x')" in err
    code, _, err = run("crews", "import", str(tmp_path / "missing.geojson"))
    assert (code, "cannot read" in err) == (1, True)
    crews = {c["id"]: c for c in _json(run, "crews", "list")}
    assert crews["crew-c"]["area"] == "centrum"  # the bad file's first feature was not applied
    assert crews["crew-n"]["kinds"] == "lamp_out"
    assert _count(sql_url, Crew) == 2
    moved = tmp_path / "moved.geojson"
    moved.write_text(
        collection(feature({"id": "crew-c", "area": "centrum", "name": "Centrum", "rank": 3}))
    )
    assert run("crews", "import", str(moved))[1].endswith("0 created, 1 updated, 0 unchanged\n")


def test_devices_registry_changes_are_validated_audited_and_raise_the_version(
    run: Run, sql_url: str
) -> None:
    def version() -> int:
        sessions = open_database(sql_url)
        try:
            with sessions() as s:
                return registry.version(s)
        finally:
            sessions.kw["bind"].dispose()

    v0 = version()
    assert run("devices", "register", "pole-1", "--site", "solna-centrum")[0] == 0
    for argv, reason in [
        (("devices", "register", "pole-1", "--site", "x"), "already registered"),
        (("devices", "register", "Pole_1", "--site", "x"), "not valid"),
        (("devices", "register", "pole-2", "--site", "bad site"), "site 'bad site' is not valid"),
        (("devices", "move", "pole-9", "--site", "x"), "no registered device"),
        (("devices", "move", "pole-1", "--site", "solna-centrum"), "already at site"),
        (("devices", "block", "pole-1"), "retire it first"),
        (("devices", "unblock", "pole-3"), "not blocked"),
    ]:
        code, _, err = run(*argv)
        assert (code, reason in err) == (1, True), (argv, err)
    assert version() == v0 + 1  # refusals changed nothing
    assert run("devices", "move", "pole-1", "--site", "solna-norr")[0] == 0
    assert run("devices", "block", "pole-3")[0] == 0
    code, _, err = run("devices", "register", "pole-3", "--site", "x")
    assert (code, "blocked" in err) == (1, True)
    assert run("devices", "unblock", "pole-3")[0] == 0
    assert run("devices", "register", "pole-3", "--site", "solna-norr")[0] == 0
    assert run("devices", "retire", "pole-1")[0] == 0
    assert version() == v0 + 6
    assert [d["id"] for d in _json(run, "devices", "list")] == ["pole-3"]
    assert {d["id"]: d["site"] for d in _json(run, "devices", "list", "--retired")} == {
        "pole-1": "solna-norr",
        "pole-3": "solna-norr",
    }
    assert _json(run, "devices", "unregistered") == []  # registering took pole-3 off the list
    actions = [e["action"] for e in _json(run, "audit", "--target", "pole-1")]
    assert actions == ["device.retire", "device.move", "device.register"]
    assert _count(sql_url, AuditEntry) == 6


def test_an_unreachable_database_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    from trygg.stack import free_port

    url = f"postgresql+psycopg://nobody:x@127.0.0.1:{free_port()}/none?connect_timeout=2"
    assert main(["admin", "devices", "list", "--database-url", url]) == 3
    assert "database error" in capsys.readouterr().err


def test_a_cli_run_leaves_no_connection_open(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["admin", "init", "--database-url", postgres_url]) == 0
    assert main(["admin", "devices", "list", "--database-url", postgres_url]) == 0
    capsys.readouterr()
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            others = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar()
    finally:
        engine.dispose()
    assert others == 0


def test_strangers_registered_meanwhile_are_not_listed_again(sql_url: str) -> None:
    from hub.strangers import Stranger

    sessions = open_database(sql_url)
    now = datetime.now(UTC)
    try:
        with sessions.begin() as s:
            registry.register(s, device_id="pole-r1", site="x", actor="t", now=now)
        with sessions.begin() as s:
            registry.record_strangers(
                s,
                {"pole-r1": Stranger(2, None, False), "pole-u1": Stranger(3, None, False)},
                now=now,
            )
        with sessions() as s:
            assert [(u.id, u.count) for u in registry.unregistered(s)] == [("pole-u1", 3)]
    finally:
        sessions.kw["bind"].dispose()
