"""The pure decisions of certificate renewal: when a pole asks (trygg.certs, edge.renewal),
what the hub signs (trygg.certs.request_refusal) and whom it answers (hub.cert_requests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edge.renewal import should_ask, untrusted_broker
from hub.cert_requests import History, Limits, admission
from tests.purity import io_imported_by
from trygg.certs import Certificate, Request, renewal_due, request_refusal

T0 = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def _cert(days_left: float, life: float = 365) -> Certificate:
    end = T0 + days_left * DAY
    return Certificate(subject="CN=pole-a", serial="10", not_before=end - life * DAY, not_after=end)


@pytest.mark.parametrize(
    ("days_left", "life", "fraction", "due"),
    [
        (300, 365, 0.5, False),
        (183, 365, 0.5, False),
        (182, 365, 0.5, True),  # less than half left
        (1, 365, 0.5, True),
        (0, 365, 0.5, True),  # expired at this very moment
        (-5, 365, 0.5, True),
        (365, 365, 0.5, False),  # just issued
        (366, 365, 0.5, True),  # not yet valid: a clock that jumped back
        (100, 365, 1 / 3, True),
        (130, 365, 1 / 3, False),
    ],
)
def test_renewal_due(days_left: float, life: float, fraction: float, due: bool) -> None:
    c = _cert(days_left, life)
    assert renewal_due(c.not_before, c.not_after, T0, fraction=fraction) is due


@pytest.mark.parametrize(
    ("cert", "asked_ago", "ask"),
    [
        (_cert(300), None, False),  # not due
        (_cert(100), None, True),  # due, never asked
        (_cert(100), 0.5, False),  # asked half an hour ago: waiting for the answer
        (_cert(100), 1.0, True),  # an hour without an answer: ask again
        (_cert(100), -2.0, True),  # asked "in the future": the clock jumped back
        (None, None, False),  # the certificate in use cannot be read
    ],
)
def test_should_ask(cert: Certificate | None, asked_ago: float | None, ask: bool) -> None:
    asked_at = None if asked_ago is None else T0 - asked_ago * HOUR
    assert should_ask(cert=cert, now=T0, fraction=0.5, asked_at=asked_at, retry=HOUR) is ask


@pytest.mark.parametrize(
    ("subject", "curve", "refusal"),
    [
        ("CN=pole-a", "prime256v1", None),
        ("CN=pole-b", "prime256v1", "is not CN=pole-a"),
        ("CN=pole-a,O=Solna", "prime256v1", "is not CN=pole-a"),
        ("CN=trygg-hub", "prime256v1", "is not CN=pole-a"),
        ("CN=pole-a", "secp384r1", "must be EC prime256v1"),
        ("CN=pole-a", "", "not 'another type'"),
    ],
)
def test_request_refusal(subject: str, curve: str, refusal: str | None) -> None:
    why = request_refusal(Request(subject=subject, curve=curve), device="pole-a")
    if refusal is None:
        assert why is None
    else:
        assert why is not None
        assert refusal in why


LIMITS = Limits(request_gap=timedelta(seconds=60), sign_gap=DAY)


@pytest.mark.parametrize(
    ("device", "asked_s", "signed_s", "refusal"),
    [
        ("pole-a", None, None, None),
        ("pole-x", None, None, "device is not registered"),
        ("pole-b", None, None, "device is blocked"),
        ("pole-a", 30, None, "too many requests: wait 30 s"),
        ("pole-a", 60, None, None),
        ("pole-a", 120, 3600, "renewed recently: wait 82800 s"),
        ("pole-a", 120, 86_400, None),
    ],
)
def test_admission(
    device: str, asked_s: float | None, signed_s: float | None, refusal: str | None
) -> None:
    history = History()
    if asked_s is not None:
        history.asked[device] = T0 - timedelta(seconds=asked_s)
    if signed_s is not None:
        history.signed[device] = T0 - timedelta(seconds=signed_s)
    why = admission(
        device,
        known=frozenset({"pole-a"}),
        blocked=frozenset({"pole-b"}),
        history=history,
        limits=LIMITS,
        now=T0,
    )
    assert why == refusal


def test_the_decisions_are_pure() -> None:
    assert io_imported_by("edge.renewal", "hub.cert_requests", "trygg.certs") == []


@pytest.mark.parametrize(
    ("error", "untrusted"),
    [
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local "
         "issuer certificate (_ssl.c:1006)", True),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate "
         "in certificate chain (_ssl.c:1006)", True),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired",
         False),
        ("[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca (_ssl.c:2580)", False),
        ("[Errno 111] Connection refused", False),
        ("", False),
    ],
)  # fmt: skip
def test_untrusted_broker(error: str, untrusted: bool) -> None:
    assert untrusted_broker(error) is untrusted
