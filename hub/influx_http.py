"""A small asyncio HTTP/1.1 POST client for InfluxDB's ``/write``.

Why not httpx (which :mod:`hub.influx` keeps for queries): a replayed backlog sends a
5000-line body every few milliseconds, and httpx's stack (httpcore, h11, anyio) costs the
event loop a noticeable share of the drain per request (profile ``python -m bench.ingest``).
Why not ``http.client`` in a worker thread: its response parsing needs the GIL a dozen
times, each wait up to the 5 ms switch interval while the event loop classifies, which
stretches every write several-fold. Here a request is one ``write`` of
head and body and a response is one ``readuntil`` of the head (plus the body, if any), on
kept-alive connections, so several writes can be in flight at once.

Errors: ``OSError`` (including ``TimeoutError`` and TLS errors) or :class:`HttpError`
(connection lost mid-exchange, or a response that is not HTTP/1.x); the connection is then
dropped, never reused.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from urllib.parse import urlencode, urlsplit

_POOL_MAX = 4
_HEAD_MAX = 64 * 1024


class HttpError(Exception):
    """The server's answer was not a well-formed HTTP/1.x response."""


_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class WriteClient:
    def __init__(
        self,
        url: str,
        *,
        timeout_s: float,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"InfluxDB URL must be http(s)://host[:port]: {url!r}")
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self._host = parts.hostname
        self._port = parts.port or (443 if self._ssl else 80)
        self._prefix = parts.path.rstrip("/")
        self._timeout_s = timeout_s
        host_header = parts.netloc.rpartition("@")[2]
        headers = [f"Host: {host_header}", "Content-Type: text/plain; charset=utf-8"]
        if token:
            headers.append(f"Authorization: Token {token}")
        elif username:
            raw = f"{username}:{password or ''}".encode()
            headers.append("Authorization: Basic " + base64.b64encode(raw).decode())
        self._headers = "\r\n".join(headers)
        self._idle: list[_Conn] = []

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for _reader, writer in idle:
            writer.close()

    async def _open(self) -> _Conn:
        return await asyncio.open_connection(
            self._host,
            self._port,
            ssl=self._ssl,
            server_hostname=self._host if self._ssl else None,
            limit=_HEAD_MAX,
        )

    async def post(self, path: str, params: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """POST ``body``; returns (status, response body). A kept-alive connection the
        server closed meanwhile is replaced once (a write is idempotent: InfluxDB keeps
        one point per series and time)."""
        head = (
            f"POST {self._prefix}{path}?{urlencode(params)} HTTP/1.1\r\n{self._headers}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        reused = bool(self._idle)
        conn = self._idle.pop() if reused else None
        async with asyncio.timeout(self._timeout_s):
            while True:
                if conn is None:
                    conn = await self._open()
                try:
                    status, data, keep = await self._exchange(conn, head, body)
                    break
                except (ConnectionError, asyncio.IncompleteReadError) as exc:
                    conn[1].close()
                    conn = None
                    if not reused:
                        raise HttpError(f"connection lost: {exc!r}") from exc
                    reused = False
                except (asyncio.LimitOverrunError, ValueError) as exc:
                    conn[1].close()
                    raise HttpError(f"malformed response: {exc!r}") from exc
                except BaseException:
                    conn[1].close()
                    raise
        if keep and len(self._idle) < _POOL_MAX:
            self._idle.append(conn)
        else:
            conn[1].close()
        return status, data

    @staticmethod
    async def _exchange(conn: _Conn, head: bytes, body: bytes) -> tuple[int, bytes, bool]:
        reader, writer = conn
        writer.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            writer.write(body)
        await writer.drain()
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
            raise HttpError(f"not an HTTP/1.x response: {lines[0][:100]!r}")
        status = int(rest[:3])
        fields: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                fields[name.strip().lower()] = value.strip()
        keep = version != "HTTP/1.0" and fields.get("connection", "").lower() != "close"
        if status in (204, 304) or 100 <= status < 200:
            return status, b"", keep
        if "chunked" in fields.get("transfer-encoding", "").lower():
            return status, await _chunked(reader), keep
        if "content-length" in fields:
            return status, await reader.readexactly(int(fields["content-length"])), keep
        return status, await reader.read(), False  # body until the server closes


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
