"""The certificate signer's rate limit lives in SQL: a signer started again on the same
database (a restarted hub, or a second hub) refuses what the first one's limits refuse,
on SQLite and PostgreSQL, with the real openssl signing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub import registry
from hub.cert_requests import Limits
from hub.cert_signer import CertSigner
from hub.db import open_database
from trygg import contract as c
from trygg.clock import FakeClock, to_ms
from trygg.mqtt import MqttSettings
from trygg.openssl import new_key_and_request
from trygg.pki import Pki

pytestmark = pytest.mark.integration
T0 = datetime.now(UTC).replace(microsecond=0)
LIMITS = Limits(request_gap=timedelta(seconds=60), sign_gap=timedelta(days=1))


def _signer(sessions: sessionmaker[Session], issuing: Pki, clock: FakeClock) -> CertSigner:
    """A new signer, with nothing in memory: what a restarted hub starts with."""
    return CertSigner(
        sessions=sessions,
        clock=clock,
        mqtt=MqttSettings(host="127.0.0.1", port=1, client_id="hub-test"),
        issuing=issuing,
        lifetime=timedelta(days=30),
        limits=LIMITS,
        share_group="test",
    )


def _request(tmp: Path, device: str, request_id: str) -> bytes:
    key, csr = tmp / f"{request_id}.key", tmp / f"{request_id}.csr"
    new_key_and_request(key, csr, device)
    message = c.CertRequest(device=device, id=request_id, csr=csr.read_text(), ts=to_ms(T0))
    return c.encode(message)


@pytest.fixture
def sessions(sql_url: str) -> Iterator[sessionmaker[Session]]:
    made = open_database(sql_url)
    yield made
    made.kw["bind"].dispose()


def test_a_restarted_signer_keeps_the_rate_limit(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    root, issuing = Pki(tmp_path / "ca"), Pki(tmp_path / "issuing")
    root.ensure_ca(now=T0)
    issuing.ensure_issuing(root, now=T0)
    clock = FakeClock(T0)
    first = _signer(sessions, issuing, clock)
    with first.sessions.begin() as s:
        registry.register(s, device_id="pole-a", site="solna", actor="test", now=T0)
    topic = c.topic_for("pole-a", c.Kind.CSR)
    signed = first.answer(topic, _request(tmp_path, "pole-a", "r1"))
    assert signed.reply.ok, signed.reply.reason

    clock.advance(10)
    again = _signer(sessions, issuing, clock)
    refused = again.answer(topic, _request(tmp_path, "pole-a", "r2"))
    assert not refused.reply.ok
    assert refused.reply.reason.startswith("too many requests")

    clock.advance(120)  # past the request gap, still within the day between signatures
    third = _signer(sessions, issuing, clock)
    refused = third.answer(topic, _request(tmp_path, "pole-a", "r3"))
    assert not refused.reply.ok
    assert refused.reply.reason.startswith("renewed recently")
    assert len(issuing.issued_to("pole-a")) == 1

    clock.advance(timedelta(days=1).total_seconds())
    fourth = _signer(sessions, issuing, clock)
    assert fourth.answer(topic, _request(tmp_path, "pole-a", "r4")).reply.ok
    assert len(issuing.issued_to("pole-a")) == 2
