"""Users, tokens, roles and rate limits, through real HTTP against a real database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from hub import auth
from hub.api import create_app
from hub.api.config import ApiConfig
from hub.api.limits import RateLimiter
from hub.db import ApiToken, open_database
from tests.api.conftest import T0, Hub, serve
from trygg.clock import FakeClock


def test_tokens_are_stored_only_as_hashes(hub: Hub, db_url: str) -> None:
    with hub.sessions() as s:
        rows = s.scalars(select(ApiToken)).all()
    assert len(rows) == 4
    tokens = {hub.crew, hub.crew_north, hub.operator, hub.admin}
    assert {r.digest for r in rows} == {auth.digest(t) for t in tokens}
    raw = Path(db_url.removeprefix("sqlite:///")).read_bytes()
    for t in tokens:
        assert t.encode() not in raw
        assert t[10:].encode() not in raw  # not even the secret part


def test_admin_manages_users_and_tokens_and_roles_are_enforced(hub: Hub) -> None:
    c = hub.client
    body = {"name": "bo", "role": "crew", "area": "centrum", "password": "lampor-2026"}
    for who in (hub.crew, hub.operator):
        r = c.post("/api/v1/users", headers=hub.h(who), json=body)
        assert (r.status_code, r.json()["detail"]) == (403, "needs the admin role")
    r = c.post("/api/v1/users", headers=hub.h(hub.admin), json=body)
    assert r.status_code == 201
    user_id = r.json()["id"]
    assert c.post("/api/v1/users", headers=hub.h(hub.admin), json=body).status_code == 409
    r = c.post("/api/v1/users", headers=hub.h(hub.admin), json={**body, "name": "x", "area": None})
    assert (r.status_code, r.json()["detail"]) == (400, "a crew user needs an area")
    r = c.post(
        "/api/v1/users", headers=hub.h(hub.admin), json={**body, "name": "y", "role": "king"}
    )
    assert r.status_code == 422
    # Log in with the password: a personal token for a working day.
    r = c.post("/api/v1/session", json={"username": "bo", "password": "wrong-password"})
    assert (r.status_code, r.json()["detail"]) == (401, "wrong user name or password")
    r = c.post("/api/v1/session", json={"username": "nobody", "password": "lampor-2026"})
    assert (r.status_code, r.json()["detail"]) == (401, "wrong user name or password")
    token = c.post("/api/v1/session", json={"username": "bo", "password": "lampor-2026"}).json()[
        "token"
    ]
    assert c.get("/api/v1/me", headers=hub.h(token)).json() == {
        "name": "bo",
        "role": "crew",
        "area": "centrum",
    }
    hub.clock.advance(13 * 3600)
    r = c.get("/api/v1/me", headers=hub.h(token))
    assert (r.status_code, r.json()["detail"]) == (401, "token expired")
    # An admin issues and revokes a long-lived token.
    r = c.post(
        f"/api/v1/users/{user_id}/tokens", headers=hub.h(hub.admin), json={"label": "tablet"}
    )
    issued = r.json()
    assert c.get("/api/v1/me", headers=hub.h(issued["token"])).status_code == 200
    listed = c.get(f"/api/v1/users/{user_id}/tokens", headers=hub.h(hub.admin)).json()
    assert all("token" not in t for t in listed)
    assert {t["label"] for t in listed} == {"login", "tablet"}
    # Someone else's token is not theirs to revoke (and not revealed).
    r = c.delete(f"/api/v1/tokens/{issued['id']}", headers=hub.h(hub.crew))
    assert r.status_code == 404
    assert c.get("/api/v1/me", headers=hub.h(issued["token"])).status_code == 200
    assert c.delete(f"/api/v1/tokens/{issued['id']}", headers=hub.h(hub.admin)).status_code == 204
    r = c.get("/api/v1/me", headers=hub.h(issued["token"]))
    assert (r.status_code, r.json()["detail"]) == (401, "token revoked")
    assert c.post("/api/v1/users/9999/tokens", headers=hub.h(hub.admin), json={}).status_code == 404
    # Switching the user off stops every token of theirs.
    again = c.post(f"/api/v1/users/{user_id}/tokens", headers=hub.h(hub.admin), json={}).json()
    assert c.get("/api/v1/me", headers=hub.h(again["token"])).status_code == 200
    assert c.delete(f"/api/v1/users/{user_id}", headers=hub.h(hub.operator)).status_code == 403
    assert c.delete(f"/api/v1/users/{user_id}", headers=hub.h(hub.admin)).status_code == 204
    r = c.get("/api/v1/me", headers=hub.h(again["token"]))
    assert (r.status_code, r.json()["detail"]) == (401, "user disabled")
    r = c.post("/api/v1/session", json={"username": "bo", "password": "lampor-2026"})
    assert r.status_code == 401
    me_id = next(
        u["id"]
        for u in c.get("/api/v1/users", headers=hub.h(hub.admin)).json()
        if u["name"] == "ada"
    )
    r = c.delete(f"/api/v1/users/{me_id}", headers=hub.h(hub.admin))
    assert (r.status_code, r.json()["detail"]) == (400, "admins cannot switch themselves off")
    # An Open311 key is not an API token.
    key = auth.bootstrap_token(
        hub.sessions, name="fms", role="operator", scope="open311", now=hub.clock.now()
    )
    assert c.get("/api/v1/me", headers=hub.h(key)).status_code == 401


def test_rate_limits_answer_429_with_retry_after(tmp_path: Path) -> None:
    sessions = open_database(f"sqlite:///{tmp_path}/rl.sqlite")
    clock = FakeClock(T0)
    cfg = ApiConfig(anon_per_minute=60, anon_burst=5, post_per_minute=6, post_burst=3)
    app = create_app(sessions=sessions, clock=clock, api_config=cfg)
    token = auth.bootstrap_token(sessions, name="olle", role="operator", now=clock.now())
    with serve(app) as url, httpx.Client(base_url=url) as c:
        codes = [c.get("/open311/v2/services.json").status_code for _ in range(7)]
        assert codes[:5] == [200] * 5
        assert codes[5:] == [429, 429]
        r = c.get("/open311/v2/services.json")
        assert r.json()["detail"] == "rate limit exceeded; retry later"
        assert int(r.headers["retry-after"]) >= 1
        # Authenticated reads are not limited by the anonymous bucket ...
        h = {"Authorization": f"Bearer {token}"}
        assert all(c.get("/api/v1/me", headers=h).status_code == 200 for _ in range(10))
        # ... but POSTs are, whoever sends them.
        posts = [
            c.post(
                "/api/v1/session", headers=h, json={"username": "olle", "password": "x"}
            ).status_code
            for _ in range(5)
        ]
        assert posts[:3] == [401, 401, 401]
        assert posts[3:] == [429, 429]
        # A made-up token does not escape the anonymous limit.
        bad = {"Authorization": "Bearer tr_guess"}
        assert c.get("/api/v1/me", headers=bad).status_code == 429
    sessions.kw["bind"].dispose()


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [(0.0, [0.0, 0.0, 0.5]), (0.5, [0.0, 0.0, 0.0])],
)
def test_token_bucket_refills_at_its_rate(elapsed: float, expected: list[float]) -> None:
    now = [0.0]
    rl = RateLimiter(per_minute=120, burst=2, now=lambda: now[0])  # 2 per second
    waits = [rl.take("a"), rl.take("a")]
    now[0] += elapsed
    waits.append(rl.take("a"))
    assert waits == pytest.approx(expected)
    assert rl.take("b") == 0.0  # keys are independent


def test_password_hash_is_salted_scrypt() -> None:
    a, b = auth.hash_password("hemligt"), auth.hash_password("hemligt")
    assert a != b
    assert a.startswith("scrypt$")
    assert auth.check_password("hemligt", a)
    assert not auth.check_password("Hemligt", a)
    assert not auth.check_password("hemligt", None)
    assert timedelta(hours=12) == timedelta(hours=ApiConfig().login_ttl_hours)
