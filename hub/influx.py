"""The one owner of InfluxDB: line protocol to ``/write``, InfluxQL on ``/query``.

These v1-compatible endpoints are served by InfluxDB 1.x, by 2.x (v1 compatibility API,
database = bucket through a DBRP mapping, token auth) and by 3.x, so the same hub runs on
Debian's 1.6.7 here and on 2.x/3.x in production.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from hub.influx_answer import WriteAnswer, classify, unreachable
from hub.influx_http import HttpError, WriteClient

log = logging.getLogger(__name__)


class InfluxError(RuntimeError):
    """InfluxDB refused or could not be reached; ``retryable`` says whether to try again."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class InfluxWriteError(InfluxError):
    """A write InfluxDB did not wholly store; ``answer`` says why and whose fault it is
    (retryable unless InfluxDB refused points for their content)."""

    def __init__(self, answer: WriteAnswer) -> None:
        super().__init__(answer.reason(), retryable=not answer.stored and not answer.refused_data)
        self.answer = answer


class Influx:
    def __init__(
        self,
        *,
        url: str,
        db: str,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        headers = {"Authorization": f"Token {token}"} if token else {}
        auth = (username, password or "") if username else None
        self.db = db
        self._client = httpx.AsyncClient(
            base_url=url, headers=headers, auth=auth, timeout=timeout_s
        )
        # Writes (the ingest's hot path) go through a lighter client; see hub.influx_http.
        self._writer = WriteClient(
            url, timeout_s=timeout_s, username=username, password=password, token=token
        )

    async def aclose(self) -> None:
        self._writer.close()
        await self._client.aclose()

    async def ping(self) -> bool:
        try:
            return (await self._client.get("/ping")).status_code == 204
        except httpx.HTTPError:
            return False

    async def write(self, body: bytes, *, rp: str | None = None, precision: str = "ms") -> None:
        """Write line protocol; raises InfluxWriteError unless every point was stored
        (see :mod:`hub.influx_answer` for what each answer means)."""
        params = {"db": self.db, "precision": precision}
        if rp:
            params["rp"] = rp
        try:
            status, data = await self._writer.post("/write", params, body)
        except (OSError, HttpError) as exc:
            raise InfluxWriteError(unreachable(repr(exc))) from exc
        answer = classify(status, data)
        if not answer.stored:
            raise InfluxWriteError(answer)

    async def query(
        self, q: str, *, epoch: str = "ms", method: str = "GET"
    ) -> list[dict[str, Any]]:
        """Run InfluxQL; returns the ``results`` list. Raises InfluxError on any error."""
        params = {"db": self.db, "q": q, "epoch": epoch}
        try:
            if method == "POST":
                resp = await self._client.post(
                    "/query", params={"db": self.db, "epoch": epoch}, data={"q": q}
                )
            else:
                resp = await self._client.get("/query", params=params)
        except httpx.HTTPError as exc:
            raise InfluxError(f"InfluxDB unreachable: {exc!r}", retryable=True) from exc
        if resp.status_code != 200:
            raise InfluxError(
                f"query failed {resp.status_code}: {resp.text[:300]}",
                retryable=resp.status_code >= 500,
            )
        results: list[dict[str, Any]] = resp.json().get("results", [])
        for result in results:
            if "error" in result:
                raise InfluxError(f"query error: {result['error']}", retryable=False)
        return results

    async def execute(self, statement: str) -> None:
        """DDL (CREATE/DROP/ALTER) via POST, as InfluxDB asks."""
        await self.query(statement, method="POST")

    async def ensure_schema(self, *, raw_rp: str, raw_retention: str) -> None:
        """Database, the raw retention policy (default) and the long-term roll-ups, in two
        requests of several statements each (a round trip per statement was most of the
        hub's time from start to its first write)."""
        db = self.db
        results = await self.query(
            f'CREATE DATABASE "{db}"; SHOW RETENTION POLICIES ON "{db}"', method="POST"
        )
        shown = results[1] if len(results) > 1 else {}
        names = {row[0] for s in shown.get("series", []) for row in s.get("values", [])}
        verb = "ALTER" if raw_rp in names else "CREATE"
        statements = [
            f'{verb} RETENTION POLICY "{raw_rp}" ON "{db}" '
            f"DURATION {raw_retention} REPLICATION 1 DEFAULT"
        ]
        if "rollup" not in names:
            statements.append(
                f'CREATE RETENTION POLICY "rollup" ON "{db}" DURATION 1825d REPLICATION 1'
            )
        # Names are our own constants, not user input.
        statements += [
            f'CREATE CONTINUOUS QUERY "cq_{kind}_1h" ON "{db}" RESAMPLE EVERY 10m '
            f'FOR 2h BEGIN SELECT mean(*), max(*), min(*) INTO "{db}"."rollup".'
            f'"{kind}_1h" FROM "{db}"."{raw_rp}"."{kind}" GROUP BY time(1h), * END'
            for kind in ("streetlight", "bin", "device", "crowd", "camera")
        ]
        await self.execute("; ".join(statements))

    async def count(self, q: str) -> int:
        """First value of the first series of a COUNT query (0 when empty)."""
        results = await self.query(q)
        series = results[0].get("series", []) if results else []
        return int(series[0]["values"][0][1]) if series else 0
