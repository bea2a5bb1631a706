"""The ingest's small HTTP/1.1 write client against scripted servers: keep-alive reuse, a
kept-alive connection the server closed, chunked and length-delimited error bodies, auth,
and a server that is not there. (Against the real InfluxDB it runs in the chaos tests.)"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from hub.influx import Influx, InfluxError
from hub.influx_http import HttpError, WriteClient

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    lines = head.split("\r\n")
    fields = {
        k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)
    }
    body = await reader.readexactly(int(fields.get("content-length", "0")))
    return lines[0], fields, body


_handlers: list[asyncio.Task[None]] = []


async def _serve(handler: Handler) -> tuple[asyncio.Server, str]:
    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        _handlers.append(task)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(tracked, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def _handlers_done() -> None:
    """Every server-side connection finished (none left for the closed loop to warn of)."""
    await asyncio.gather(*_handlers)
    _handlers.clear()


async def test_keeps_the_connection_and_sends_auth_and_body() -> None:
    seen: list[tuple[str, dict[str, str], bytes]] = []
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            try:
                seen.append(await _request(reader))
            except asyncio.IncompleteReadError:
                break
            writer.write(b"HTTP/1.1 204 No Content\r\nX-Influxdb-Version: 1.6.7\r\n\r\n")
            await writer.drain()
        writer.close()

    server, url = await _serve(handler)
    async with server:
        client = WriteClient(url + "/influx/", timeout_s=5, token="s3cret")
        for i in range(3):
            assert await client.post("/write", {"db": "t", "rp": "raw"}, b"m v=%d 1" % i) == (
                204,
                b"",
            )
        client.close()
        await _handlers_done()
    assert connections == 1
    assert [s[0] for s in seen] == ["POST /influx/write?db=t&rp=raw HTTP/1.1"] * 3
    assert seen[2][1]["authorization"] == "Token s3cret"
    assert [s[2] for s in seen] == [b"m v=0 1", b"m v=1 1", b"m v=2 1"]


async def test_a_kept_alive_connection_closed_by_the_server_is_replaced_once() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await _request(reader)
        # Answers once, then closes without saying so (an idle timeout, a restart).
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        writer.close()

    server, url = await _serve(handler)
    async with server:
        client = WriteClient(url, timeout_s=5, username="u", password="p")
        assert (await client.post("/write", {}, b"a"))[0] == 204
        await asyncio.sleep(0.05)
        assert (await client.post("/write", {}, b"b"))[0] == 204
        client.close()
        await _handlers_done()
    assert connections == 2


@pytest.mark.parametrize(
    ("response", "status", "body"),
    [
        (
            b'HTTP/1.1 400 Bad Request\r\nContent-Length: 22\r\n\r\n{"error":"bad point"}\n',
            400,
            b'{"error":"bad point"}\n',
        ),
        (
            b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\ntimeo\r\n4\r\nut!\n\r\n0\r\n\r\n",
            500,
            b"timeout!\n",
        ),
        (b"HTTP/1.0 503 Service Unavailable\r\n\r\nbusy", 503, b"busy"),
    ],
)
async def test_reads_error_bodies_of_every_framing(
    response: bytes, status: int, body: bytes
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(response)
        await writer.drain()
        writer.close()

    server, url = await _serve(handler)
    async with server:
        client = WriteClient(url, timeout_s=5)
        assert await client.post("/write", {}, b"x") == (status, body)
        client.close()
        await _handlers_done()


async def test_not_http_and_not_there_are_errors_influx_retries() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await writer.drain()
        writer.close()

    server, url = await _serve(handler)
    async with server:
        with pytest.raises(HttpError):
            await WriteClient(url, timeout_s=5).post("/write", {}, b"x")
        await _handlers_done()
    port = server.sockets[0].getsockname()[1] if server.sockets else 1
    influx = Influx(url=f"http://127.0.0.1:{port}", db="t", timeout_s=2)
    with pytest.raises(InfluxError) as refused:
        await influx.write(b"m v=1 1")
    assert refused.value.retryable
    await influx.aclose()
