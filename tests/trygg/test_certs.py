"""The pure certificate and CRL timing rules (trygg.certs, hub.rules.certificates)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.rules.actions import Clear, Raise
from hub.rules.certificates import ALARM, Watched, in_force, review
from tests.purity import io_imported_by
from trygg.certs import (
    Crl,
    common_name,
    crl_needs_resign,
    expiry_level,
    fields,
    openssl_time,
    parse_openssl_time,
    split_pem,
    thresholds,
)

T0 = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _crl(signed_days_ago: float, days: float = 30) -> Crl:
    last = T0 - signed_days_ago * DAY
    return Crl(issuer="CN=ca", last_update=last, next_update=last + days * DAY)


@pytest.mark.parametrize(
    ("crl", "now", "due"),
    [
        (None, T0, True),  # no CRL at all
        (_crl(0), T0, False),
        (_crl(14.9), T0, False),  # just over half its life left
        (_crl(15.1), T0, True),  # under half left: the daily timer re-signs it
        (_crl(31), T0, True),  # expired
        (_crl(-1), T0, True),  # signed "tomorrow": the clock went back, re-sign
        (_crl(2, days=4), T0, False),  # a short CRL, exactly half left
        (_crl(2.5, days=4), T0, True),
    ],
)
def test_crl_is_resigned_once_half_its_life_is_gone(
    crl: Crl | None, now: datetime, due: bool
) -> None:
    assert crl_needs_resign(crl, now) is due


@pytest.mark.parametrize(
    ("validity_days", "left_days", "level"),
    [
        (825, 31, "ok"),
        (825, 30, "warning"),
        (825, 7.01, "warning"),
        (825, 7, "critical"),
        (825, -3, "critical"),  # expired
        (3650, 29, "warning"),
        (30, 15, "ok"),  # a CRL at its re-signing point is fine
        (30, 10, "warning"),  # a third of its life left: the timer missed five days
        (30, 3, "critical"),
    ],
)
def test_expiry_levels(validity_days: float, left_days: float, level: str) -> None:
    not_after = T0 + left_days * DAY
    assert expiry_level(not_after - validity_days * DAY, not_after, T0) == level


def test_thresholds_are_30_and_7_days_for_long_lived_certificates() -> None:
    assert thresholds(825 * DAY) == (30 * DAY, 7 * DAY)
    assert thresholds(30 * DAY) == (10 * DAY, 3 * DAY)


def test_openssl_time_round_trip_and_errors() -> None:
    assert openssl_time(T0) == "20270301120000Z"
    assert parse_openssl_time("Mar  1 12:00:00 2027 GMT") == T0
    with pytest.raises(ValueError, match="naive"):
        openssl_time(datetime(2027, 3, 1))  # noqa: DTZ001 - the refused input
    with pytest.raises(ValueError):
        parse_openssl_time("2027-03-01")
    assert fields("subject=CN=a,O=b\nserial=10\nnoise") == {"subject": "CN=a,O=b", "serial": "10"}


def _cert(cn: str, serial: str, left_days: float, validity: float = 825) -> Watched:
    end = T0 + left_days * DAY
    return Watched("certificate", f"CN={cn}", serial, end - validity * DAY, end, f"/p/{cn}.crt")


def test_review_raises_due_items_and_clears_the_rest() -> None:
    items = [
        _cert("pole-1", "1001", 40),
        _cert("pole-2", "1002", 20),
        _cert("broker", "1003", 2),
        Watched("crl", "CN=Trygg fleet CA", "", T0 - 25 * DAY, T0 + 5 * DAY, "/p/crl.pem"),
    ]
    actions = review(items, now=T0, active=["cert:1001:pole-1", "cert:0999:pole-9"])
    raised = {a.asset: a for a in actions if isinstance(a, Raise)}
    assert {k: a.severity for k, a in raised.items()} == {
        "cert:1002:pole-2": "warning",
        "cert:1003:broker": "critical",
        "crl:Trygg fleet CA": "warning",
    }
    assert raised["cert:1002:pole-2"].alarm == ALARM
    assert raised["cert:1002:pole-2"].details["daysLeft"] == 20.0
    assert raised["cert:1003:broker"].details["subject"] == "CN=broker"
    cleared = sorted(a.asset for a in actions if isinstance(a, Clear))
    assert cleared == ["cert:0999:pole-9", "cert:1001:pole-1"]


def test_a_renewed_certificate_ends_the_ticket_of_the_one_it_replaced() -> None:
    old, new = _cert("pole-1", "1001", 20), _cert("pole-1", "1009", 825)
    assert old.asset != new.asset
    # the old file is still on disk (a bundle's copy, a superseded one): the newer counts
    assert review([old, new], now=T0, active=[old.asset]) == [Clear(old.asset, ALARM)]
    assert review([new, old], now=T0, active=[]) == []
    assert review([new], now=T0, active=[old.asset]) == [Clear(old.asset, ALARM)]
    # a newer certificate that is itself due still warns, under its own serial
    newer_due = _cert("pole-1", "1010", 5, validity=30)
    raised = review([old, newer_due], now=T0, active=[old.asset])
    assert [(type(a).__name__, a.asset) for a in raised] == [
        ("Raise", newer_due.asset),
        ("Clear", old.asset),
    ]


@pytest.mark.parametrize(
    ("items", "kept"),
    [
        ([], []),
        ([("pole-1", "1", 10, 825), ("pole-2", "2", 10, 825)], ["1", "2"]),
        ([("pole-1", "1", 10, 825), ("pole-1", "2", 400, 825)], ["2"]),
        ([("pole-1", "2", 400, 825), ("pole-1", "1", 10, 825)], ["2"]),
        # issued later though it ends sooner (a short-lived renewal): the later one counts
        ([("pole-1", "1", 700, 825), ("pole-1", "2", 300, 365)], ["2"]),
    ],
)
def test_in_force_keeps_the_newest_certificate_per_subject(
    items: list[tuple[str, str, float, float]], kept: list[str]
) -> None:
    watched = [_cert(cn, serial, left, validity) for cn, serial, left, validity in items]
    crl = Watched("crl", "CN=Trygg fleet CA", "", T0 - DAY, T0 + DAY, "/p/crl.pem")
    out = in_force([*watched, crl])
    assert sorted(w.serial for w in out if w.kind == "certificate") == kept
    assert crl in out


def test_common_name() -> None:
    assert common_name("CN=pole-a1") == "pole-a1"
    assert common_name("O=Solna,CN=pole-a1") == "pole-a1"
    assert common_name("O=Solna") == "O=Solna"


def test_certificate_logic_imports_no_io() -> None:
    assert io_imported_by("trygg.certs", "hub.rules.certificates") == []


def test_split_pem() -> None:
    a = "-----BEGIN CERTIFICATE-----\nQUFB\n-----END CERTIFICATE-----"
    b = "-----BEGIN CERTIFICATE-----\nQkJC\n-----END CERTIFICATE-----"
    assert split_pem("") == []
    assert split_pem(f"{a}\n") == [a + "\n"]
    assert split_pem(f"# fleet CA\n{a}\n\n{b}") == [a + "\n", b + "\n"]
    assert split_pem(f"{a}\n-----BEGIN CERTIFICATE-----\ncut") == [a + "\n"]
