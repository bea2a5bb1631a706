"""Which addresses a webhook may reach: public ones, plus what the operator allows.

A webhook URL is chosen by an API user, so without this check the hub would POST (and
report errors) on the user's behalf to its own loopback, the cloud metadata service or
the municipality's internal network. Pure logic over :mod:`ipaddress`; the resolving and
connecting is in :mod:`hub.webhook_transport`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Ranges that are not the public internet, written out rather than taken only from the
# ``is_private``/``is_global`` flags, whose tables differ between Python versions.
_BLOCKED: Final[tuple[IPNetwork, ...]] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network", unspecified
        "10.0.0.0/8",  # RFC 1918
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata services
        "172.16.0.0/12",  # RFC 1918
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # RFC 1918
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
        "::/128",  # unspecified
        "::1/128",  # loopback
        "::/96",  # IPv4-compatible (deprecated)
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard
        "2001::/23",  # IETF protocol assignments (Teredo, ORCHID, ...)
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4 (deprecated; reaches any IPv4 address through a relay)
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_HOST = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def canonical(address: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped IPv6 one (``::ffff:a.b.c.d``), else itself."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_public(address: IPAddress) -> bool:
    """True for an address on the public internet; False for every local or special range.

    A NAT64 address (``64:ff9b::/96``, what an IPv6-only network's DNS gives for an IPv4
    host) is judged by the IPv4 address it reaches; 6to4 (deprecated) is never public.
    """
    ip = canonical(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip in _NAT64:
        return is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if any(ip in net for net in _BLOCKED if net.version == ip.version):
        return False
    special = ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
    return not (special or ip.is_reserved or ip.is_unspecified) and ip.is_global


def normalise_host(host: str) -> str:
    """A host name as compared against the allow-list: lower case, no trailing dot."""
    return host.strip().lower().rstrip(".")


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """Public addresses, plus the operator's allowed networks and host names."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, entries: Iterable[str]) -> TargetPolicy:
        """From allow-list entries, each a CIDR, an address or a host name.

        Raises ValueError naming the first entry that is none of these.
        """
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                net = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                name = normalise_host(entry)
                if not _HOST.match(name):
                    raise ValueError(
                        f"webhook allow-list entry {raw!r} is neither a CIDR, an address "
                        "nor a host name"
                    ) from None
                hosts.add(name)
            else:
                networks.append(net)
        return cls(networks=tuple(networks), hosts=frozenset(hosts))

    def allows(self, host: str, address: IPAddress) -> bool:
        """May a request for ``host`` connect to ``address``?"""
        if normalise_host(host) in self.hosts:
            return True
        ip = canonical(address)
        if any(ip in net for net in self.networks if net.version == ip.version):
            return True
        return is_public(ip)
