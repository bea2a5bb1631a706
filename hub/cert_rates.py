"""The certificate signer's rate-limit memory in SQL (table ``cert_rates``): what
:func:`hub.cert_requests.admission` needs of one device, read before and written after
each request, so a restarted hub, or a second hub on the same database, keeps the limit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from hub.cert_requests import History
from hub.db import CertRate


def load(s: Session, device: str) -> History:
    """The device's last request and signature as a :class:`History` (empty if none)."""
    row = s.get(CertRate, device)
    history = History()
    if row is not None:
        if row.asked_at is not None:
            history.asked[device] = row.asked_at
        if row.signed_at is not None:
            history.signed[device] = row.signed_at
    return history


def record(
    s: Session, device: str, *, asked: datetime | None = None, signed: datetime | None = None
) -> None:
    """Store when ``device`` last had a request looked at and/or a certificate signed."""
    row = s.get(CertRate, device)
    if row is None:
        row = CertRate(device_id=device)
        s.add(row)
    if asked is not None:
        row.asked_at = asked
    if signed is not None:
        row.signed_at = signed
