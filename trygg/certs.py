"""Certificates and CRLs as values, and when each must be renewed. Pure: no I/O, no clock.

The facts come from ``trygg.openssl`` (which reads the files); the decisions here take
``now`` so tests can move time without touching the files' real dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

CRL_RESIGN_FRACTION: Final = 0.5  # re-sign a CRL once half of its validity has passed
# Renew a certificate once half of its life is gone: the hub's warning (30 days before the
# end) then means renewal has been failing for a long time, not that it has not begun.
RENEW_FRACTION: Final = 0.5
FLEET_CURVE: Final = "prime256v1"  # the only key type the fleet signs
CERT_WARN: Final = timedelta(days=30)
CERT_CRITICAL: Final = timedelta(days=7)

Level = Literal["ok", "warning", "critical"]


@dataclass(frozen=True, slots=True)
class Certificate:
    """What the hub and the provisioning need to know about one certificate file."""

    subject: str
    serial: str
    not_before: datetime
    not_after: datetime


@dataclass(frozen=True, slots=True)
class Crl:
    issuer: str
    last_update: datetime
    next_update: datetime


@dataclass(frozen=True, slots=True)
class Request:
    """A certificate signing request whose self-signature checked out."""

    subject: str  # RFC 2253
    curve: str  # the EC key's curve, "" for another key type


def renewal_due(
    not_before: datetime, not_after: datetime, now: datetime, *, fraction: float = RENEW_FRACTION
) -> bool:
    """True once less than ``fraction`` of the certificate's validity is left (or it has
    expired, or ``now`` is before it began: a clock that jumped back renews rather than
    trusts a certificate it cannot date)."""
    if now >= not_after or now < not_before:
        return True
    return not_after - now < (not_after - not_before) * fraction


def request_refusal(request: Request, *, device: str) -> str | None:
    """Why the hub must not sign ``request`` for ``device``, or None when it may: the
    subject must be exactly ``CN=<device>`` and the key EC P-256."""
    if request.subject != f"CN={device}":
        return f"subject {request.subject[:120]!r} is not CN={device}"
    if request.curve != FLEET_CURVE:
        return f"key must be EC {FLEET_CURVE}, not {request.curve or 'another type'!r}"
    return None


def crl_needs_resign(
    crl: Crl | None, now: datetime, *, fraction: float = CRL_RESIGN_FRACTION
) -> bool:
    """True when the CRL is missing, expired, issued in the future (a clock that jumped
    back), or has less than ``fraction`` of its validity left."""
    if crl is None or now >= crl.next_update or now < crl.last_update:
        return True
    validity = crl.next_update - crl.last_update
    return crl.next_update - now < validity * fraction


def thresholds(validity: timedelta) -> tuple[timedelta, timedelta]:
    """(warning, critical) lead times for something valid ``validity`` long: 30 and 7 days,
    shortened for short-lived items such as a CRL (a third and a tenth of its life), which
    would otherwise warn from the moment it is signed."""
    return min(CERT_WARN, validity / 3), min(CERT_CRITICAL, validity / 10)


def expiry_level(not_before: datetime, not_after: datetime, now: datetime) -> Level:
    """How urgent renewing is at ``now``: ``critical`` also once expired."""
    warn, critical = thresholds(not_after - not_before)
    left = not_after - now
    if left <= critical:
        return "critical"
    if left <= warn:
        return "warning"
    return "ok"


def common_name(rfc2253: str) -> str:
    """The CN of an RFC 2253 name (``CN=pole-a1,O=Solna`` -> ``pole-a1``), else the name."""
    for part in rfc2253.split(","):
        key, sep, value = part.strip().partition("=")
        if sep and key.upper() == "CN":
            return value
    return rfc2253


PEM_BEGIN: Final = "-----BEGIN CERTIFICATE-----"
PEM_END: Final = "-----END CERTIFICATE-----"


def split_pem(text: str) -> list[str]:
    """The PEM certificates in ``text``, each with its markers and one final newline; what
    lies between them (comments, blank lines) is dropped."""
    out: list[str] = []
    rest = text
    while (start := rest.find(PEM_BEGIN)) >= 0:
        end = rest.find(PEM_END, start)
        if end < 0:
            break
        out.append(rest[start : end + len(PEM_END)] + "\n")
        rest = rest[end + len(PEM_END) :]
    return out


OPENSSL_TIME: Final = "%b %d %H:%M:%S %Y GMT"


def parse_openssl_time(text: str) -> datetime:
    """``Jan  1 00:00:00 2024 GMT`` (what ``openssl x509 -dates`` prints) as aware UTC.

    ValueError for anything else."""
    return datetime.strptime(" ".join(text.split()), OPENSSL_TIME).replace(tzinfo=UTC)


def openssl_time(at: datetime) -> str:
    """``at`` as the GeneralizedTime ``openssl ca -startdate`` and friends accept."""
    if at.tzinfo is None:
        raise ValueError("a naive datetime: pass an aware UTC time")
    return at.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")


def fields(text: str) -> dict[str, str]:
    """``key=value`` lines of openssl's ``-noout -subject -dates ...`` output."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out
