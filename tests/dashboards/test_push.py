"""``trygg dashboards push`` against the in-process FAKE Grafana (tests/dashboards/fake_grafana.py).

The command runs exactly as an operator would run it (``trygg.cli.main``) over a real
socket; the fake records every request, so the tests check the exact documented sequence,
headers and bodies, idempotence on a second push, and that a refused token changes nothing.
"""

from __future__ import annotations

import json

import pytest

from dashboards import provisioning
from dashboards.catalogue import dashboards
from dashboards.schema import DATASOURCE_UID
from tests.dashboards.fake_grafana import fake_grafana
from trygg.cli import main

TOKEN = "glsa_test-service-account-token"
READ_TOKEN = "influx-read-token-for-tests"


def _push(url: str, token: str = TOKEN) -> int:
    return main(
        [
            "dashboards",
            "push",
            "--grafana-url",
            url,
            "--token",
            token,
            "--influx-url",
            "http://influxdb:8086",
            "--influx-token",
            READ_TOKEN,
        ]
    )


def test_first_push_sends_exactly_the_documented_requests(
    capsys: pytest.CaptureFixture[str],
) -> None:
    uids = [d.uid for d in dashboards()]
    with fake_grafana(TOKEN) as (url, state):
        assert _push(url) == 0
    calls = [(r.method, r.path) for r in state.requests]
    assert calls == [
        ("GET", "/api/health"),
        ("GET", f"/api/datasources/uid/{DATASOURCE_UID}"),
        ("POST", "/api/datasources"),
        ("GET", f"/api/folders/{provisioning.FOLDER_UID}"),
        ("POST", "/api/folders"),
        *[("POST", "/api/dashboards/db")] * len(uids),
    ]
    assert {r.authorization for r in state.requests} == {f"Bearer {TOKEN}"}

    ds = state.requests[2].body
    assert ds == provisioning.datasource(url="http://influxdb:8086", token=READ_TOKEN)
    assert ds["jsonData"]["dbName"] == "trygg"
    assert ds["secureJsonData"]["httpHeaderValue1"] == f"Token {READ_TOKEN}"
    assert state.requests[4].body == {
        "uid": provisioning.FOLDER_UID,
        "title": provisioning.FOLDER_TITLE,
    }
    bodies = [r.body for r in state.requests[5:]]
    assert [b["dashboard"]["uid"] for b in bodies] == uids
    for body, d in zip(bodies, dashboards(), strict=True):
        assert body["folderUid"] == provisioning.FOLDER_UID
        assert body["overwrite"] is True
        assert body["dashboard"]["id"] is None
        assert body["dashboard"] == {**d.to_json(), "id": None}
    out = json.loads(capsys.readouterr().out)
    assert out["datasource"] == "created"
    assert out["folder"] == "created"
    assert len(out["dashboards"]) == len(uids)
    for returned, uid in zip(out["dashboards"], uids, strict=True):
        assert returned.startswith(f"/d/{uid}/")


def test_second_push_updates_in_place(capsys: pytest.CaptureFixture[str]) -> None:
    with fake_grafana(TOKEN) as (url, state):
        assert _push(url) == 0
        first = len(state.requests)
        assert _push(url) == 0
    second = [(r.method, r.path) for r in state.requests[first:]]
    assert ("PUT", f"/api/datasources/uid/{DATASOURCE_UID}") in second
    assert ("POST", "/api/datasources") not in second
    assert ("POST", "/api/folders") not in second
    assert len(state.datasources) == 1
    assert len(state.folders) == 1
    assert set(state.versions.values()) == {2}  # each dashboard overwritten once, not added
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["datasource"] == "updated"


def test_refused_token_changes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with fake_grafana(TOKEN) as (url, state):
        assert _push(url, token="wrong-token") == 1
    assert "401" in capsys.readouterr().err
    assert not state.datasources
    assert not state.folders
    assert not state.dashboards
    # Only the health check and the first (refused) call reached the server.
    assert [(r.method, r.path) for r in state.requests] == [
        ("GET", "/api/health"),
        ("GET", f"/api/datasources/uid/{DATASOURCE_UID}"),
    ]


def test_unreachable_grafana_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    from trygg.stack import free_port

    assert _push(f"http://127.0.0.1:{free_port()}") == 1
    assert "unreachable" in capsys.readouterr().err
