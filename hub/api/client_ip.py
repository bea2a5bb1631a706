"""The address a request comes from, behind reverse proxies the operator trusts.

Pure: ``X-Forwarded-For`` is believed only as far as the hops that appended to it are
trusted proxies, so a caller cannot pick their own rate-limit bucket by sending the header.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """``10.0.0.5``, ``10.0.0.0/8`` or ``::1`` as networks; ValueError names a bad entry."""
    out: list[Network] = []
    for v in values:
        try:
            out.append(ipaddress.ip_network(v.strip(), strict=False))
        except ValueError:
            raise ValueError(f"trusted proxy {v!r} is not an IP address or network") from None
    return tuple(out)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class ClientAddress:
    """Finds the client's address from the direct peer and ``X-Forwarded-For``."""

    trusted: tuple[Network, ...] = ()

    def is_trusted(self, text: str) -> bool:
        ip = _ip(text)
        return ip is not None and any(ip in net for net in self.trusted)

    def of(self, peer: str, forwarded_for: str | None) -> str:
        """The peer itself unless it is a trusted proxy; then the nearest untrusted hop
        that the trusted chain reports (rightmost first), as the proxies appended them."""
        if not forwarded_for or not self.is_trusted(peer):
            return peer
        nearest = peer
        for hop in reversed(forwarded_for.split(",")):
            ip = _ip(hop)
            if ip is None:  # a trusted proxy passed on garbage: stop at the last good hop
                return nearest
            nearest = str(ip)
            if not any(ip in net for net in self.trusted):
                return nearest
        return nearest
