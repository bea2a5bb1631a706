"""HTTP to webhook receivers: resolve once, check the address, connect to that address.

Checking a URL only when it is registered is not enough: its name can later resolve to
127.0.0.1 (DNS rebinding), and a client that resolves again when it connects may reach an
address nobody checked. :class:`PinnedTransport` resolves the host itself, refuses if any
address is not allowed by the :class:`~hub.webhook_targets.TargetPolicy`, and sends the
request to the checked address, keeping the original ``Host`` header and the TLS server
name (httpcore's ``sni_hostname`` request extension), so certificates are still verified
against the receiver's name.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from hub.webhook_targets import IPAddress, TargetPolicy

# (host, port) -> the addresses it resolves to; blocking is fine (run in a thread).
Resolver = Callable[[str, int], Sequence[str]]

REFUSED = "refused: address not allowed"
MAX_ADDRESSES = 3  # tried per request when connecting fails


class TargetRefused(httpx.TransportError):
    """The receiver's address is not allowed; nothing was sent."""


def system_resolve(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for ``host`` (socket.gaierror if none)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _default_port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def resolve_checked(url: httpx.URL, *, policy: TargetPolicy, resolve: Resolver) -> list[IPAddress]:
    """Every address of ``url``'s host, all allowed by ``policy``.

    Raises TargetRefused if any is not allowed and httpx.ConnectError if the name does not
    resolve. An address literal is taken as is; a name is always resolved, so numeric forms
    such as ``2130706433`` are judged by the address they stand for.
    """
    host = url.raw_host.decode("ascii")  # IDNA-encoded, IPv6 without brackets
    if not host:
        raise TargetRefused("URL has no host")
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            found = resolve(host, _default_port(url))
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
        except (OSError, UnicodeError, ValueError) as exc:
            raise httpx.ConnectError(f"cannot resolve {host}") from exc
    if not addresses:
        raise httpx.ConnectError(f"cannot resolve {host}")
    if not all(policy.allows(host, a) for a in addresses):
        raise TargetRefused(REFUSED)
    return addresses


class PinnedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that connects only to checked addresses (see module doc).

    One instance serves one receiver: its pooled connections were opened, and their
    certificates verified, for that receiver's host name only.
    """

    def __init__(
        self,
        *,
        policy: TargetPolicy,
        resolve: Resolver = system_resolve,
        inner: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._policy = policy
        self._resolve = resolve
        self._inner = inner if inner is not None else httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        try:
            addresses = await asyncio.to_thread(
                resolve_checked, url, policy=self._policy, resolve=self._resolve
            )
        except httpx.TransportError as exc:
            exc.request = request
            raise
        extensions = dict(request.extensions)
        if url.scheme == "https":
            extensions["sni_hostname"] = url.raw_host.decode("ascii")
        # Each checked address in turn (e.g. IPv6, then IPv4) while connecting fails.
        tried = addresses[:MAX_ADDRESSES]
        for address in tried[:-1]:
            with contextlib.suppress(httpx.ConnectError):
                return await self._send(request, address, extensions)
        return await self._send(request, tried[-1], extensions)

    async def _send(
        self, request: httpx.Request, address: IPAddress, extensions: dict[str, Any]
    ) -> httpx.Response:
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=str(address)),
            headers=request.headers,  # keeps Host: the receiver's name
            stream=request.stream,
            extensions=extensions,
        )
        return await self._inner.handle_async_request(pinned)

    async def aclose(self) -> None:
        await self._inner.aclose()
