"""When a pole asks the hub for a new certificate. Pure: no I/O, no clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from trygg.certs import Certificate, renewal_due


def should_ask(
    *,
    cert: Certificate | None,
    now: datetime,
    fraction: float,
    asked_at: datetime | None,
    retry: timedelta,
) -> bool:
    """True when the certificate in use is due for renewal and no request is waiting for
    an answer (one that got none, or a refusal, is repeated after ``retry``). A certificate
    that could not be read is not renewed: the bundle's files are then broken, and a new
    key would not mend them."""
    if cert is None or not renewal_due(cert.not_before, cert.not_after, now, fraction=fraction):
        return False
    return asked_at is None or now - asked_at >= retry or now < asked_at


def untrusted_broker(error: str) -> bool:
    """True when a connection failed because the broker's certificate does not lead to a
    CA this pole trusts: after a CA rollover that the pole missed, or a wrong CA file."""
    text = error.lower()
    return "certificate verify failed" in text and (
        "local issuer" in text or "self-signed" in text or "self signed" in text
    )
