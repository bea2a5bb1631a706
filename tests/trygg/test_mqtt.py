"""trygg.mqtt's Connection against a real Mosquitto: many connections in one process, no
threads; wills, clean exits, read-ahead, keep-alive, QoS 1 acks, checked against paho as an
independent client."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.helpers import wait_for
from trygg.mqtt import Connection, Incoming, MqttError, MqttSettings, Will
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
        assert watch.backlog == 0  # nothing after the clean DISCONNECT


async def test_connect_refused_is_an_mqtt_error() -> None:
    port = free_port()  # nothing listens here
    with pytest.raises(MqttError, match=r"cannot connect.*Connect call failed"):
        async with Connection(MqttSettings(host="127.0.0.1", port=port, client_id="nobody")):
            pass


async def test_connect_waits_for_a_restarting_broker(private_stack: LocalStack) -> None:
    """Refused connects are retried within the connect window: the
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


async def test_read_ahead_holds_a_backlog_in_the_socket_until_the_consumer_takes_it(
    stack: LocalStack, unique: str
) -> None:
    """With ``read_ahead`` the connection stops reading while its inbox is that full (the
    rest waits in the socket and the broker), reads on as messages are taken, and never
    stays paused for longer than half a keep-alive, so the link is not lost while the
    consumer is stuck: then it reads everything, as without read-ahead."""
    topic, total, ahead = f"t/{unique}/backlog", 2000, 50
    settings = MqttSettings(
        host="127.0.0.1", port=stack.ports.mqtt, client_id=f"sub-{unique}", keepalive_s=8
    )
    async with Connection(settings, manual_ack=True, max_batch=100, read_ahead=ahead) as sub:
        await sub.subscribe(topic)
        async with Connection(_settings(stack, f"pub-{unique}")) as pub:
            payload = b"x" * 1000
            loop = asyncio.get_running_loop()
            started = loop.time()
            await asyncio.gather(*(pub.publish(topic, b"%04d" % i + payload) for i in range(total)))
            await asyncio.sleep(0.5)
            assert loop.time() - started < 4  # within the pause's limit (keep-alive / 2)
            per_read = 256 * 1024 // len(payload) + 1
            assert ahead <= sub.backlog <= ahead + per_read  # the rest is not read yet
            taken = await sub.messages()

            async def refilled() -> bool:  # taking messages resumed the reading
                return sub.backlog >= ahead

            async def all_read() -> bool:  # a consumer stuck for long: the pause's limit
                return len(taken) + sub.backlog == total

            await wait_for(refilled, within=10, interval=0.01)
            await wait_for(all_read, within=15)
            assert sub.is_connected
            async with asyncio.timeout(10):
                while len(taken) < total:
                    taken += await sub.messages()
        sub.ack_many(taken)
    assert [m.payload[:4] for m in taken] == [b"%04d" % i for i in range(total)]


async def test_a_subscription_is_confirmed_while_the_inbox_is_full_and_nobody_takes_it(
    stack: LocalStack, unique: str
) -> None:
    """The SUBACK comes behind a backlog that fills the read-ahead: the connection reads on
    until it has it, instead of staying paused (up to half a keep-alive) past the SUBACK's
    own time limit while a busy consumer takes nothing."""
    topic, total, ahead = f"t/{unique}/full", 500, 20
    settings = MqttSettings(
        host="127.0.0.1", port=stack.ports.mqtt, client_id=f"sub-{unique}", keepalive_s=600
    )
    async with Connection(settings, manual_ack=True, max_batch=100, read_ahead=ahead) as sub:
        await sub.subscribe(topic)
        async with Connection(_settings(stack, f"pub-{unique}")) as pub:
            payload = b"x" * 1000
            await asyncio.gather(*(pub.publish(topic, payload) for _ in range(total)))

            async def paused_full() -> bool:
                return sub.backlog >= ahead

            await wait_for(paused_full, within=10, interval=0.01)
            assert sub.backlog < total  # paused: the rest waits in the socket and the broker
            # Not a timing figure: without reading on, the SUBACK waits out the pause (300 s).
            async with asyncio.timeout(10):
                await sub.subscribe(f"{topic}/more")
            assert sub.is_connected
            taken: list[Incoming] = []
            async with asyncio.timeout(10):
                while len(taken) < total:
                    taken += await sub.messages()
        sub.ack_many(taken)
    assert len(taken) == total


async def test_unsubscribe_ends_a_subscription_and_keeps_the_others(
    stack: LocalStack, unique: str
) -> None:
    gone, kept = f"t/{unique}/gone", f"t/{unique}/kept"
    async with Connection(_settings(stack, f"sub-{unique}")) as sub:
        await sub.subscribe(gone, kept)
        await sub.unsubscribe(gone)
        await sub.unsubscribe(f"t/{unique}/never")  # no such subscription: not an error
        async with Connection(_settings(stack, f"pub-{unique}")) as pub:
            await pub.publish(gone, b"1")
            await pub.publish(kept, b"2")
        async with asyncio.timeout(10):
            got = await sub.messages()
        await asyncio.sleep(0.5)  # anything else sent would have arrived by now
        assert [(m.topic, m.payload) for m in got] == [(kept, b"2")]
        assert sub.backlog == 0
        assert sub.is_connected


async def test_publish_many_delivers_in_order_and_retains(stack: LocalStack, unique: str) -> None:
    topic = f"t/{unique}/many"
    async with Connection(_settings(stack, f"sub-{unique}")) as sub:
        await sub.subscribe(f"{topic}/+", qos=0)
        async with Connection(_settings(stack, f"pub-{unique}")) as pub:
            pub.publish_many([(f"{topic}/{i}", b"%d" % i, i == 7) for i in range(10)])
            got: list[Incoming] = []
            async with asyncio.timeout(10):
                while len(got) < 10:
                    got += await sub.messages()
            assert [(m.topic, m.payload) for m in got] == [
                (f"{topic}/{i}", b"%d" % i) for i in range(10)
            ]
            assert await pub.publish(f"{topic}/x", b"") == 0  # the link is fine after them
    async with Connection(_settings(stack, f"late-{unique}")) as late:
        await late.subscribe(f"{topic}/+", qos=0)
        async with asyncio.timeout(10):
            retained = await late.messages()
        assert [(m.topic, m.payload, m.retain) for m in retained] == [(f"{topic}/7", b"7", True)]
    with pytest.raises(MqttError):
        pub.publish_many([(topic, b"", False)])  # closed


async def test_a_connection_that_only_receives_keeps_itself_alive(
    stack: LocalStack, unique: str
) -> None:
    """A subscriber at QoS 0 sends nothing of its own; its PINGREQs keep the broker from
    dropping it (after 1.5 keep-alives) and from publishing its Will."""
    topic, will = f"t/{unique}/feed", Will(f"t/{unique}/will", b"gone", retain=False)
    quiet = MqttSettings("127.0.0.1", stack.ports.mqtt, f"quiet-{unique}", keepalive_s=1)
    async with Connection(_settings(stack, f"watch-{unique}")) as watch:
        await watch.subscribe(will.topic)
        async with Connection(quiet, will=will) as sub:
            await sub.subscribe(topic, qos=0)
            async with Connection(_settings(stack, f"pub-{unique}")) as pub:
                for i in range(16):
                    pub.publish_many([(topic, b"%d" % i, False)])
                    await asyncio.sleep(0.25)
            await asyncio.sleep(2.0)  # and then nothing at all arrives either
            assert sub.is_connected
            got = await sub.messages()
            assert [m.payload for m in got] == [b"%d" % i for i in range(16)]
        await asyncio.sleep(0.5)
        assert watch.backlog == 0  # no Will: the broker never thought it gone


async def test_a_silent_broker_is_noticed_within_two_keepalives(
    private_stack: LocalStack, unique: str
) -> None:
    settings = MqttSettings("127.0.0.1", private_stack.ports.mqtt, f"c-{unique}", keepalive_s=1)
    pid = private_stack.mosquitto.pid
    assert pid is not None
    async with Connection(settings) as conn:
        os.kill(pid, signal.SIGSTOP)  # the TCP connection stays up; nothing answers
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            reason = await asyncio.wait_for(asyncio.shield(conn.disconnected), timeout=10)
            assert "keep-alive" in reason
            assert loop.time() - started < 2.5
        finally:
            os.kill(pid, signal.SIGCONT)


async def test_messages_with_properties_from_paho_arrive_and_are_acked_when_told(
    stack: LocalStack, unique: str
) -> None:
    """paho (an independent implementation) publishes QoS 1 with v5 properties; ours, with
    ``manual_ack``, gets them once, and again after a reconnect until it acked them."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    topic = f"t/{unique}/props"
    settings = MqttSettings(
        "127.0.0.1",
        stack.ports.mqtt,
        f"hub-{unique}",
        clean_start=False,
        session_expiry_s=60,
    )
    async with Connection(settings, manual_ack=True) as sub:
        await sub.subscribe(topic)
    ref = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"ref-{unique}", protocol=paho.MQTTv5)
    ref.connect("127.0.0.1", stack.ports.mqtt)
    ref.loop_start()
    try:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.UserProperty = ("k", "v")
        props.MessageExpiryInterval = 600
        props.ContentType = "application/json"
        for i in range(3):
            ref.publish(topic, b"%d" % i, qos=1, properties=props).wait_for_publish(5)
    finally:
        ref.disconnect()
        ref.loop_stop()
    for _ in range(2):  # not acked the first time: the persistent session sends them again
        async with Connection(settings, manual_ack=True) as sub:
            assert sub.session_present
            got: list[Incoming] = []
            async with asyncio.timeout(10):
                while len(got) < 3:
                    got += await sub.messages()
            assert [(m.payload, m.qos, m.topic) for m in got] == [
                (b"%d" % i, 1, topic) for i in range(3)
            ]
    async with Connection(settings, manual_ack=True) as sub:
        got = []
        async with asyncio.timeout(10):
            while len(got) < 3:
                got += await sub.messages()
        sub.ack_many(got)
    async with Connection(settings, manual_ack=True) as sub:
        await asyncio.sleep(0.5)
        assert sub.backlog == 0  # acked: nothing comes again


async def test_paho_receives_what_ours_publishes(stack: LocalStack, unique: str) -> None:
    topic = f"t/{unique}/out"
    received: list[Any] = []
    subscribed = threading.Event()
    ref = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"ref-{unique}", protocol=paho.MQTTv5)
    ref.on_message = lambda _c, _u, msg: received.append(msg)
    ref.on_subscribe = lambda *_a: subscribed.set()
    ref.connect("127.0.0.1", stack.ports.mqtt)
    ref.loop_start()
    try:
        ref.subscribe(topic, qos=1)
        assert await asyncio.to_thread(subscribed.wait, 5)
        async with Connection(_settings(stack, f"pub-{unique}")) as pub:
            big = bytes(range(256)) * 300  # a remaining length of three bytes
            assert await pub.publish(topic, b"one") == 0
            assert await pub.publish(topic, big, retain=True) == 0
            await pub.publish_nowait(topic, b"zero", qos=0)

        async def all_three() -> bool:
            return len(received) == 3

        await wait_for(all_three, within=10)
    finally:
        ref.disconnect()
        ref.loop_stop()
    assert [(m.payload, m.qos) for m in received] == [(b"one", 1), (big, 1), (b"zero", 0)]
