"""A small HTTP/1.1 POST client for InfluxDB's ``/write``, run in worker threads.

Why not httpx (which :mod:`hub.influx` keeps for queries): a replayed backlog sends a
5000-line body every few milliseconds, and httpx's async stack (httpcore, h11, anyio) cost
~3 ms of the event loop's time per request (profiled under ``python -m bench.ingest``),
about a tenth of the drain. ``http.client`` sends the body with one ``sendall`` in a worker
thread (which releases the GIL while the kernel copies it) and keeps connections alive in
a small pool, so two writes can be in flight at once.

Blocking: call :meth:`WriteClient.post` through ``asyncio.to_thread``. Any failure to get
a complete response raises ``OSError`` or ``http.client.HTTPException``; the connection
is then dropped, never reused.
"""

from __future__ import annotations

import base64
import http.client
import ssl
import threading
from urllib.parse import urlencode, urlsplit

_POOL_MAX = 4


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
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._timeout_s = timeout_s
        self._context = ssl.create_default_context() if self._https else None
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if token:
            self._headers["Authorization"] = f"Token {token}"
        elif username:
            raw = f"{username}:{password or ''}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def _connection(self, *, fresh: bool = False) -> tuple[http.client.HTTPConnection, bool]:
        """A connection and whether it was reused from the pool."""
        with self._lock:
            if self._idle and not fresh:
                return self._idle.pop(), True
        return self._new(), False

    def _new(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout_s, context=self._context
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)

    def post(self, path: str, params: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """POST ``body``; returns (status, response body). A kept-alive connection the
        server has closed meanwhile is replaced once (a write is idempotent: InfluxDB keeps
        one point per series and time)."""
        target = f"{self._prefix}{path}?{urlencode(params)}"
        conn, reused = self._connection()
        while True:
            try:
                conn.request("POST", target, body, self._headers)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (ConnectionError, http.client.RemoteDisconnected):
                conn.close()
                if not reused:
                    raise
                conn, reused = self._connection(fresh=True)
            except BaseException:
                conn.close()
                raise
        with self._lock:
            if resp.will_close or self._closed or len(self._idle) >= _POOL_MAX:
                conn.close()
            else:
                self._idle.append(conn)
        return resp.status, data

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
