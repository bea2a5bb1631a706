"""Which certificates and CRLs are due for renewal: warning 30 days before a certificate
expires, critical at 7 days (and once expired). A CRL lives only weeks and is re-signed at
half its life by ``trygg provision crl``, so it warns at a third and a tenth of its life:
only when that renewal has stopped. Pure: values in, actions out, ``now`` from the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from hub.rules.actions import Action, Clear, Raise
from trygg.certs import common_name, expiry_level

ALARM: Final = "certificateExpiring"

Kind = Literal["certificate", "crl"]


@dataclass(frozen=True, slots=True)
class Watched:
    """One certificate or CRL the hub can see."""

    kind: Kind
    name: str  # subject (certificate) or issuer (CRL), RFC 2253
    serial: str  # "" for a CRL
    not_before: datetime  # a CRL's lastUpdate
    not_after: datetime  # a CRL's nextUpdate
    path: str

    @property
    def asset(self) -> str:
        """A stable key per certificate (a renewed one is a new key) or per CRL issuer."""
        cn = common_name(self.name)
        key = f"cert:{self.serial}:{cn}" if self.kind == "certificate" else f"crl:{cn}"
        return key[:64]


def in_force(items: Iterable[Watched]) -> list[Watched]:
    """The items that matter: every CRL, and of the certificates with one subject only the
    one issued last. A pole that renewed itself, or a renewed bundle, leaves its earlier
    certificate on disk (the bundle's copy, a superseded one); that one is no longer the
    certificate anyone must renew, so it must not keep a ticket open."""
    newest: dict[str, Watched] = {}
    out: list[Watched] = []
    for item in items:
        if item.kind != "certificate":
            out.append(item)
            continue
        held = newest.get(item.name)
        if held is None or (item.not_before, item.not_after) > (held.not_before, held.not_after):
            newest[item.name] = item
    return out + list(newest.values())


def review(items: Sequence[Watched], *, now: datetime, active: Iterable[str]) -> list[Action]:
    """A Raise for every item in force (:func:`in_force`) due at ``now`` and a Clear for
    every active alarm (asset ids in ``active``) whose item is no longer due or no longer
    in force (renewed, retired)."""
    actions: list[Action] = []
    due: set[str] = set()
    for item in sorted(in_force(items), key=lambda i: (i.not_after, i.asset)):
        level = expiry_level(item.not_before, item.not_after, now)
        if level == "ok" or item.asset in due:
            continue
        due.add(item.asset)
        left = item.not_after - now
        actions.append(
            Raise(
                asset=item.asset,
                alarm=ALARM,
                severity=level,
                details={
                    "kind": item.kind,
                    "subject": item.name,
                    "serial": item.serial,
                    "notAfter": item.not_after.isoformat(),
                    "daysLeft": round(left.total_seconds() / 86400, 1),
                    "path": item.path,
                },
            )
        )
    actions.extend(Clear(asset=a, alarm=ALARM) for a in sorted(set(active) - due))
    return actions


def title(item_kind: str, subject: str, not_after: str) -> str:
    """The ticket's title: what expires, and when."""
    what = "CRL" if item_kind == "crl" else "Certificate"
    return f"{what} {common_name(subject)} expires {not_after[:10]}: renew it"
