"""Who a caller is, for the rate limiter: a token the hub honours, and the client address
behind trusted reverse proxies only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event, select

from hub import auth
from hub.api import create_app
from hub.api.client_ip import ClientAddress, parse_networks
from hub.api.config import ApiConfig
from hub.api.token_check import TokenCheck
from hub.db import ApiToken, User, open_database
from tests.api.conftest import T0, serve
from tests.helpers import settings_from
from trygg.clock import FakeClock

SERVICES = "/open311/v2/services.json"


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[tuple[httpx.Client, str, FakeClock]]:
    """A hub whose anonymous bucket holds 3 requests, behind a proxy at 127.0.0.1 (trusted)."""
    sessions = open_database(f"sqlite:///{tmp_path}/rl.sqlite")
    clock = FakeClock(T0)
    cfg = ApiConfig(anon_per_minute=1, anon_burst=3, trusted_proxies=("127.0.0.1",))
    app = create_app(sessions=sessions, clock=clock, api_config=cfg)
    token = auth.bootstrap_token(sessions, name="olle", role="operator", now=clock.now())
    with serve(app) as url, httpx.Client(base_url=url) as c:
        yield c, token, clock
    sessions.kw["bind"].dispose()


def _codes(c: httpx.Client, n: int, headers: dict[str, str] | dict[bytes, bytes]) -> list[int]:
    return [c.get(SERVICES, headers=headers).status_code for _ in range(n)]


def test_a_made_up_or_revoked_bearer_token_is_anonymous(
    strict: tuple[httpx.Client, str, FakeClock],
) -> None:
    c, token, _ = strict
    me = {"X-Forwarded-For": "198.51.100.1"}
    assert _codes(c, 5, {**me, "Authorization": "Bearer anything"}) == [200] * 3 + [429] * 2
    guess = {**me, "Authorization": "Bearer tr_" + "x" * 43}
    assert _codes(c, 2, guess) == [429, 429]
    # The hub's own token keeps its own bucket, also on public routes.
    assert _codes(c, 8, {**me, "Authorization": f"Bearer {token}"}) == [200] * 8


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(
    strict: tuple[httpx.Client, str, FakeClock], tmp_path: Path
) -> None:
    c, _, _ = strict
    # Behind the trusted proxy each client has its own bucket ...
    assert _codes(c, 4, {"X-Forwarded-For": "198.51.100.7"}) == [200] * 3 + [429]
    assert _codes(c, 3, {"X-Forwarded-For": "198.51.100.8"}) == [200] * 3
    # ... and a client cannot pick a fresh bucket by prepending addresses of its own.
    spoof = {"X-Forwarded-For": "10.9.9.9, 198.51.100.7"}
    assert _codes(c, 1, spoof) == [429]
    # Without trusted proxies (the default) the header changes nothing.
    sessions = open_database(f"sqlite:///{tmp_path}/plain.sqlite")
    cfg = ApiConfig(anon_per_minute=1, anon_burst=3)
    app = create_app(sessions=sessions, clock=FakeClock(T0), api_config=cfg)
    with serve(app) as url, httpx.Client(base_url=url) as plain:
        codes = [
            plain.get(SERVICES, headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
            for i in range(5)
        ]
        assert codes == [200] * 3 + [429] * 2
    sessions.kw["bind"].dispose()


def test_headers_that_are_not_utf8_are_an_anonymous_call_not_an_error(
    strict: tuple[httpx.Client, str, FakeClock],
) -> None:
    c, _, _ = strict
    odd = {b"Authorization": b"Bearer tr_\xe9\xff", b"X-Forwarded-For": b"\xff\xfe"}
    assert _codes(c, 4, odd) == [200] * 3 + [429]


@pytest.mark.parametrize(
    ("trusted", "peer", "xff", "client"),
    [
        ((), "192.0.2.1", "1.2.3.4", "192.0.2.1"),
        (("10.0.0.0/8",), "192.0.2.1", "1.2.3.4", "192.0.2.1"),
        (("10.0.0.0/8",), "10.0.0.2", None, "10.0.0.2"),
        (("10.0.0.0/8",), "10.0.0.2", "1.2.3.4", "1.2.3.4"),
        (("10.0.0.0/8",), "10.0.0.2", "6.6.6.6, 1.2.3.4", "1.2.3.4"),
        (("10.0.0.0/8",), "10.0.0.2", "1.2.3.4, 10.0.0.9", "1.2.3.4"),
        (("10.0.0.0/8",), "10.0.0.2", "10.0.0.7, 10.0.0.9", "10.0.0.7"),
        (("10.0.0.0/8",), "10.0.0.2", "1.2.3.4, nonsense", "10.0.0.2"),
        (("10.0.0.0/8",), "10.0.0.2", "", "10.0.0.2"),
        (("::1",), "::1", "2001:db8::5", "2001:db8::5"),
    ],
)
def test_client_address(trusted: tuple[str, ...], peer: str, xff: str | None, client: str) -> None:
    assert ClientAddress(parse_networks(trusted)).of(peer, xff) == client


def test_trusted_proxies_come_from_the_environment_and_are_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = settings_from(monkeypatch, {"TRYGG_API_TRUSTED_PROXIES": "10.0.0.0/8, 172.18.0.1"}).api
    assert cfg.trusted_proxies == ("10.0.0.0/8", "172.18.0.1")
    assert settings_from(monkeypatch, {}).api.trusted_proxies == ()
    with pytest.raises(ValueError, match="not an IP"):
        settings_from(monkeypatch, {"TRYGG_API_TRUSTED_PROXIES": "proxy.example"})


async def test_token_check_honours_only_live_tokens_and_caches_its_answers(
    tmp_path: Path,
) -> None:
    sessions = open_database(f"sqlite:///{tmp_path}/tc.sqlite")
    clock = FakeClock(T0)
    mono = [0.0]
    check = TokenCheck(sessions=sessions, clock=clock, ttl_s=30, monotonic=lambda: mono[0])
    live = auth.bootstrap_token(sessions, name="olle", role="operator", now=T0)
    revoked = auth.bootstrap_token(sessions, name="olle", role="operator", now=T0)
    with sessions.begin() as s:
        user = s.scalars(select(User).where(User.name == "olle")).one()
        _, short = auth.issue_token(s, user=user, now=T0, ttl=timedelta(minutes=1))
        token_id = s.scalars(select(ApiToken.id).where(ApiToken.digest == auth.digest(revoked)))
        auth.revoke_token(s, token_id=token_id.one(), now=T0)
    lookups: list[str] = []
    engine = sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", lambda *a: lookups.append(str(a[2])))
    assert [await check.valid(t) for t in (live, revoked, short, "tr_guess", "nope")] == [
        True,
        False,
        True,
        False,
        False,
    ]
    assert len(lookups) == 4  # "nope" lacks the prefix: no look-up at all
    assert await check.valid(live)
    assert await check.valid("tr_guess") is False
    assert len(lookups) == 4  # cached
    clock.advance(120)
    mono[0] = 31.0  # the cache expires; the short token has expired meanwhile
    assert await check.valid(short) is False
    with sessions.begin() as s:
        s.scalars(select(User).where(User.name == "olle")).one().active = False
    assert await check.valid(live) is False
    sessions.kw["bind"].dispose()
