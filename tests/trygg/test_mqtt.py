"""trygg.mqtt runs paho on the event loop: many connections in one process, no threads."""

from __future__ import annotations

import asyncio
import threading

import pytest

from trygg.mqtt import Connection, MqttError, MqttSettings, Will
from trygg.stack import LocalStack, free_port

pytestmark = pytest.mark.integration

MANY = 1000


def _settings(stack: LocalStack, client_id: str) -> MqttSettings:
    return MqttSettings(host="127.0.0.1", port=stack.ports.mqtt, client_id=client_id)


async def test_many_connections_one_process_no_network_threads(
    stack: LocalStack, unique: str
) -> None:
    threads_before = threading.active_count()
    topic = f"t/{unique}/many"
    async with Connection(_settings(stack, f"sub-{unique}")) as sub:
        await sub.subscribe(f"{topic}/+")
        conns = [Connection(_settings(stack, f"c{i}-{unique}")) for i in range(MANY)]
        await asyncio.gather(*(c.__aenter__() for c in conns))
        try:
            assert all(c.is_connected for c in conns)
            assert threading.active_count() == threads_before  # no thread per connection
            codes = await asyncio.gather(
                *(c.publish(f"{topic}/{i}", str(i).encode()) for i, c in enumerate(conns))
            )
            assert codes == [0] * MANY  # every PUBACK came back, reason "success"
            got: set[bytes] = set()
            async with asyncio.timeout(30):
                while len(got) < MANY:
                    got.update(m.payload for m in await sub.messages())
            assert got == {str(i).encode() for i in range(MANY)}
        finally:
            await asyncio.gather(*(c.__aexit__(None, None, None) for c in conns))
    assert all(c.disconnected.done() for c in conns)


async def test_abort_makes_the_broker_publish_the_will(stack: LocalStack, unique: str) -> None:
    will = Will(f"t/{unique}/will", b"gone")
    async with Connection(_settings(stack, f"watch-{unique}")) as watch:
        await watch.subscribe(will.topic)
        conn = Connection(_settings(stack, f"dev-{unique}"), will=will)
        await conn.__aenter__()
        conn.abort()
        assert not conn.is_connected
        with pytest.raises(MqttError):
            conn.publish_nowait("t/x", b"")
        async with asyncio.timeout(10):
            msgs = await watch.messages()
        assert [(m.topic, m.payload) for m in msgs] == [(will.topic, b"gone")]


async def test_clean_exit_sends_no_will(stack: LocalStack, unique: str) -> None:
    will = Will(f"t/{unique}/will", b"gone", retain=False)
    async with Connection(_settings(stack, f"watch-{unique}")) as watch:
        await watch.subscribe(will.topic)
        async with Connection(_settings(stack, f"dev-{unique}"), will=will) as conn:
            assert await conn.publish(will.topic, b"alive") == 0
        async with asyncio.timeout(10):
            msgs = await watch.messages()
        await asyncio.sleep(0.5)
        assert [m.payload for m in msgs] == [b"alive"]
        assert not watch._inbox  # nothing after the clean DISCONNECT


async def test_connect_refused_is_an_mqtt_error() -> None:
    port = free_port()  # nothing listens here
    with pytest.raises(MqttError, match=r"cannot connect.*Connect call failed"):
        async with Connection(MqttSettings(host="127.0.0.1", port=port, client_id="nobody")):
            pass


async def test_connect_waits_for_a_restarting_broker(private_stack: LocalStack) -> None:
    """Refused connects are retried within the connect window (as paho's loop did): the
    broker is reached as soon as it is back, not after the caller's back-off has grown."""
    broker = private_stack.mosquitto
    await asyncio.to_thread(broker.stop)
    loop = asyncio.get_running_loop()
    connecting = asyncio.ensure_future(Connection(_settings(private_stack, "patient")).__aenter__())
    await asyncio.sleep(1.5)
    assert not connecting.done()
    await asyncio.to_thread(broker.start)
    back = loop.time()
    conn = await asyncio.wait_for(connecting, timeout=10)
    try:
        assert conn.is_connected
        assert loop.time() - back < 5  # the next retry (1, 2, 4 s apart), not a new cycle
    finally:
        await conn.__aexit__(None, None, None)
