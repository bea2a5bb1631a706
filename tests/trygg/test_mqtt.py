"""trygg.mqtt runs paho on the event loop: many connections in one process, no threads."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import struct
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt import _packet
from paho.mqtt.enums import CallbackAPIVersion, _ConnectionState
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.helpers import wait_for
from trygg import mqtt
from trygg.mqtt import (
    Connection,
    Incoming,
    MqttError,
    MqttSettings,
    Will,
    _BufferedSocket,
    _FastClient,
    plain_puback,
    plain_publish,
)
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
            assert ahead <= len(sub._inbox) <= ahead + per_read  # the rest is not read yet
            taken = await sub.messages()

            async def refilled() -> bool:  # taking messages resumed the reading
                return len(sub._inbox) >= ahead

            async def all_read() -> bool:  # a consumer stuck for long: the pause's limit
                return len(taken) + len(sub._inbox) == total

            await wait_for(refilled, within=10, interval=0.01)
            await wait_for(all_read, within=15)
            assert sub.is_connected
            async with asyncio.timeout(10):
                while len(taken) < total:
                    taken += await sub.messages()
        sub.ack_many(taken)
    assert [m.payload[:4] for m in taken] == [b"%04d" % i for i in range(total)]


@pytest.mark.parametrize("size", [0, 1, 100, 127 - 12, 128 - 12, 16383 - 12, 16384 - 12, 70_000])
@pytest.mark.parametrize("retain", [False, True])
def test_publish_many_queues_the_packets_paho_would(size: int, retain: bool) -> None:
    client = _FastClient(CallbackAPIVersion.VERSION2, client_id="t", protocol=paho.MQTTv5)
    client.on_socket_register_write = lambda *_a: None  # queue only, as on the event loop
    client._sock = object()  # type: ignore[assignment]
    topic, payload = "trygg/v1/dev/d-1/ack", bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    client._send_publish(0, topic.encode(), payload, qos=0, retain=retain)
    by_paho = bytes(client._out_packet.pop()["packet"])
    client.publish_many([(topic, payload, retain), ("a/b", b"", False)])
    queued = client._out_packet.pop()
    client._sock = None
    assert queued["packet"] == by_paho + mqtt.plain_publish_packet("a/b", b"", False)
    info = queued["info"]
    assert info is not None
    assert (queued["command"], queued["qos"], info.mid) == (0x30, 0, 0)


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


# ---- the short path for plain PUBLISH packets (_FastClient._handle_publish) ---------------
# The sha256 (first 16 hex digits) of the paho 2.x source the override was checked against.
# If paho changes, re-read its _handle_publish and decode_publish against the override (and
# against plain_publish), then update these.
_PAHO_SOURCES: dict[str, tuple[Callable[..., Any], str]] = {
    "Client._handle_publish": (paho.Client._handle_publish, "1bbaa3ef0e3afc6d"),
    "decode_publish": (_packet.decode_publish, "50c158487fa3d96e"),
    "Client._handle_pubackcomp": (paho.Client._handle_pubackcomp, "04d39ba283b1f3be"),
    "Client._do_on_publish": (paho.Client._do_on_publish, "5bbcad6f9447107a"),
    "Client.loop_read": (paho.Client.loop_read, "4fa11ca2d451dbec"),
}


def test_paho_publish_and_puback_handling_is_the_version_the_short_paths_mirror() -> None:
    for name, (func, digest) in _PAHO_SOURCES.items():
        source = inspect.getsource(func).encode()
        assert hashlib.sha256(source).hexdigest()[:16] == digest, f"paho's {name} changed"


def _publish_packet(
    topic: bytes,
    payload: bytes,
    *,
    qos: int,
    mid: int = 0,
    retain: bool = False,
    props: Properties | None = None,
) -> bytes:
    var = struct.pack("!H", len(topic)) + topic
    if qos:
        var += struct.pack("!H", mid)
    var += props.pack() if props is not None else b"\x00"  # type: ignore[no-untyped-call]
    rest = var + payload
    length, size = b"", len(rest)
    while True:
        size, digit = divmod(size, 128)
        length += bytes([digit | (0x80 if size else 0)])
        if not size:
            break
    return bytes([0x30 | qos << 1 | int(retain)]) + length + rest


class _Wire:
    """The read side of a socket holding fixed bytes (at most ``chunk`` per recv), then
    'would block'."""

    def __init__(self, data: bytes, chunk: int | None = None) -> None:
        self._data, self._pos, self._chunk = data, 0, chunk

    def recv(self, size: int) -> bytes:
        size = min(size, self._chunk or size)
        chunk = self._data[self._pos : self._pos + size]
        if not chunk:
            raise BlockingIOError
        self._pos += len(chunk)
        return chunk

    def pending(self) -> int:
        return 0

    def drained(self) -> bool:
        return self._pos == len(self._data)

    def close(self) -> None:
        pass


def _receive(
    data: bytes, *, short: bool, manual_ack: bool, chunk: int | None = None
) -> tuple[list[Incoming], int, bytes]:
    """What a client delivers for ``data`` (arriving ``chunk`` bytes at a time): the
    messages, how many took the short path, and the bytes it queued to send back (PUBACK,
    PUBREC)."""
    client = _FastClient(
        CallbackAPIVersion.VERSION2, client_id="t", protocol=paho.MQTTv5, manual_ack=manual_ack
    )
    got: list[Incoming] = []
    fast = 0

    def on_message(_c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        got.append(Incoming(msg.topic, bytes(msg.payload), msg.qos, msg.mid, msg.retain))

    def on_incoming(topic: str, payload: bytes, qos: int, mid: int, retain: bool) -> None:
        nonlocal fast
        fast += 1
        got.append(Incoming(topic, payload, qos, mid, retain))

    client.on_message = on_message
    if short:
        client.on_incoming = on_incoming
    wire = _Wire(data, chunk)
    client._sock = _BufferedSocket(wire)
    reads = 3 + (len(data) // chunk if chunk else 0)
    for _ in range(reads):  # the last reads find nothing more ('would block')
        assert client.loop_read() == paho.MQTT_ERR_SUCCESS
    assert wire.drained()
    sent = b"".join(bytes(p["packet"]) for p in client._out_packet)
    client._sock = None
    return got, fast, sent


def test_short_path_delivers_and_acks_exactly_what_paho_does() -> None:
    expiry = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    expiry.MessageExpiryInterval = 60
    user = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    user.UserProperty = ("k", "v")
    plain = [
        _publish_packet(b"a/b", b"qos0", qos=0),
        _publish_packet(b"a/b", b"qos1", qos=1, mid=7),
        _publish_packet(b"a/retained", b"r", qos=1, mid=8, retain=True),
        _publish_packet("å/ü/€".encode(), b"", qos=1, mid=65535),
        _publish_packet(b"t" * 300, bytes(range(256)) * 600, qos=1, mid=9),  # 2-3 byte lengths
    ]
    other = [
        _publish_packet(b"a/expiring", b"e", qos=1, mid=10, props=expiry),
        _publish_packet(b"a/user", b"u", qos=0, props=user),
        _publish_packet(b"a/exactly-once", b"q2", qos=2, mid=11),
    ]
    data = b"".join(plain[:2] + other[:1] + plain[2:] + other[1:])
    for manual_ack in (True, False):
        by_paho, fast_paho, acks_paho = _receive(data, short=False, manual_ack=manual_ack)
        by_short, fast_short, acks_short = _receive(data, short=True, manual_ack=manual_ack)
        assert by_short == by_paho
        assert acks_short == acks_paho
        assert (fast_paho, fast_short) == (0, len(plain))
    # QoS 2 is held by paho until PUBREL, so it is not delivered yet
    assert [m.payload for m in by_paho] == [
        b"qos0",
        b"qos1",
        b"e",
        b"r",
        b"",
        plain[-1][-153600:],
        b"u",
    ]
    assert by_paho[3].retain
    assert by_paho[3].topic == "a/retained"
    assert acks_paho.count(b"\x40\x02") == 5  # PUBACK for each QoS 1 without manual_ack


def test_packets_taken_from_the_buffer_match_paho_however_the_bytes_arrive() -> None:
    # Between paho's packets, loop_read takes whole plain PUBLISH packets straight from the
    # buffer (_BufferedSocket.take_packets); a packet cut by the end of a read, or any
    # other packet, is left to paho. Reads of every size cut packets everywhere.
    user = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    user.UserProperty = ("k", "v")
    packets = [
        _publish_packet(f"trygg/v1/dev/d-{i}/data".encode(), b"x" * (i * 7), qos=i % 2, mid=i)
        for i in range(1, 60)
    ]
    packets[20:20] = [_publish_packet(b"a/user", b"u", qos=0, props=user)]
    packets[40:40] = [_publish_packet(b"a/exactly-once", b"q2", qos=2, mid=99)]
    packets.append(
        _publish_packet(b"t" * 300, bytes(range(256)) * 66, qos=1, mid=5)
    )  # 3-byte length
    data = b"".join(packets)
    for manual_ack in (True, False):
        by_paho, _, acks_paho = _receive(data, short=False, manual_ack=manual_ack)
        for chunk in (None, 1, 2, 3, 5, 64, 1000, 4096):
            got, fast, acks = _receive(data, short=True, manual_ack=manual_ack, chunk=chunk)
            assert got == by_paho, chunk
            assert acks == acks_paho, chunk
            assert fast == len(packets) - 2
    assert len(by_paho) == len(packets) - 1  # QoS 2 waits for PUBREL


def test_direct_reads_take_most_packets_from_the_buffer(monkeypatch: Any) -> None:
    taken: list[int] = []
    take = _BufferedSocket.take_packets

    def spy(self: _BufferedSocket, publish: Any, puback: Any) -> int:
        taken.append(take(self, publish, puback))
        return taken[-1]

    monkeypatch.setattr(_BufferedSocket, "take_packets", spy)
    data = b"".join(_publish_packet(b"a/b", b"p" * 100, qos=1, mid=i) for i in range(1, 201))
    got, fast, _ = _receive(data, short=True, manual_ack=True)
    assert len(got) == fast == 200
    assert sum(taken) == 200  # the buffer is filled by one recv; paho reads none of them


class _Duplex(_Wire):
    """A wire that also takes whatever the client sends."""

    def send(self, data: bytes) -> int:
        return len(data)


def _puback_packet(mid: int, code: int | None = None, props: Properties | None = None) -> bytes:
    body = struct.pack("!H", mid)
    if code is not None:
        body += bytes([code])
    if props is not None:
        body += props.pack()  # type: ignore[no-untyped-call]
    return bytes([0x40, len(body)]) + body


def _settle(
    data: bytes, *, short: bool, chunk: int | None
) -> tuple[list[tuple[int, int]], int, int]:
    """Publish QoS 1 messages 1..6, receive ``data`` (PUBACKs) ``chunk`` bytes at a time:
    the (mid, reason) settled, in order, how many publications are still unsettled, and
    how many PUBACKs took the short path."""
    client = _FastClient(CallbackAPIVersion.VERSION2, client_id="t", protocol=paho.MQTTv5)
    client.max_inflight_messages_set(0)
    client._sock = _BufferedSocket(_Duplex(b""))
    client._state = _ConnectionState.MQTT_CS_CONNECTED
    infos = [client.publish("a/b", b"x", qos=1) for _ in range(6)]
    assert [i.mid for i in infos] == [1, 2, 3, 4, 5, 6]
    settled: list[tuple[int, int]] = []
    short_path = 0

    def on_puback(mid: int, code: int) -> None:
        nonlocal short_path
        short_path += 1
        settled.append((mid, code))

    def on_publish(_c: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        settled.append((mid, int(reason.value)))

    client.on_publish = on_publish
    client.on_incoming = lambda *_: None
    if short:
        client.on_puback = on_puback
    wire = _Wire(data, chunk)
    client._sock = _BufferedSocket(wire)
    for _ in range(3 + (len(data) // chunk if chunk else 0)):
        assert client.loop_read() == paho.MQTT_ERR_SUCCESS
    assert wire.drained()
    settled_mids = {mid for mid, _ in settled}
    assert [i.is_published() for i in infos] == [i.mid in settled_mids for i in infos]
    return settled, len(client._out_messages), short_path


def test_pubacks_taken_from_the_buffer_settle_exactly_what_paho_does() -> None:
    reason = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]
    reason.ReasonString = "not authorised"
    data = b"".join(
        [
            _puback_packet(1),  # no reason code: success
            _puback_packet(2, 0x10),  # no matching subscribers
            _puback_packet(3, 0x87, reason),  # refused, with a reason string: paho's
            _puback_packet(4, 0x87),  # refused
            _publish_packet(b"a/b", b"in", qos=1, mid=77),
            _puback_packet(9),  # not ours: ignored
            bytes([0x40, 3]) + struct.pack("!HB", 5, 0),  # reason code, no property length
            bytes([0x40, 4]) + struct.pack("!HBB", 6, 0x80, 0),  # empty properties
            _puback_packet(1),  # settled already: ignored
        ]
    )
    by_paho, left_paho, _ = _settle(data, short=False, chunk=None)
    assert by_paho == [(1, 0), (2, 0x10), (3, 0x87), (4, 0x87), (5, 0), (6, 0x80)]
    assert left_paho == 0
    for chunk in (None, 1, 2, 3, 5, 7, 64):
        settled, left, short_path = _settle(data, short=True, chunk=chunk)
        assert (settled, left) == (by_paho, 0), chunk
        # whole in one read: all but the one with properties; cut: paho reads the cut ones
        assert short_path == 5 if chunk is None else 0 <= short_path <= 5, (chunk, short_path)


def test_plain_puback_leaves_the_unusual_to_paho() -> None:
    assert plain_puback(b"\x00\x07", 0, 2) == (7, 0)
    assert plain_puback(b"\x00\x07\x87", 0, 3) == (7, 0x87)
    assert plain_puback(b"\x00\x07\x87\x00", 0, 4) == (7, 0x87)
    assert plain_puback(b"\x00\x07\x87\x03\x1f\x00\x00", 0, 7) is None  # properties
    assert plain_puback(b"\x00", 0, 1) is None  # too short: malformed, paho says so


def test_plain_publish_leaves_the_unusual_to_paho() -> None:
    assert plain_publish(0x32, b"\x00\x02\xff\xfe\x00\x01\x00x") is None  # not UTF-8
    assert plain_publish(0x32, b"\x00\x00\x00\x01\x00x") is None  # empty topic (alias)
    assert plain_publish(0x32, b"\x00\x09ab\x00\x01\x00") is None  # topic runs past the end
    assert plain_publish(0x30, b"\x00\x01a") is None  # no property length
    assert plain_publish(0x36, b"\x00\x01a\x00\x01\x00x") is None  # QoS 3
    assert plain_publish(0x33, bytearray(b"\x00\x01a\x00\x05\x00xy")) == ("a", b"xy", 1, 5, True)
    assert plain_publish(0x30, b"\x00\x01a\x00") == ("a", b"", 0, 0, False)
    assert plain_publish(0x33, b"??\x00\x01a\x00\x05\x00xy!", 2, 10) == ("a", b"xy", 1, 5, True)


def _backlog_packet(mid: int) -> bytes:
    # a 20-reading message's size: ~250 packets per 256 KiB read
    return _publish_packet(b"trygg/v1/dev/d-1/data", b"p" * 1000, qos=1, mid=mid)


def test_a_large_backlog_is_read_in_turns_in_order() -> None:
    """A replayed session's backlog arrives as fast as the broker sends it: one readiness
    event must not read all of it before the ingest classifies anything. ``loop_read``
    hands over at most about ``_MAX_PACKETS_PER_READ`` packets per call and says the rest
    is still buffered (``Connection._readable`` then calls it again)."""
    total = 5 * mqtt._MAX_PACKETS_PER_READ + 123
    data = b"".join(_backlog_packet(1 + i % 65535) for i in range(total))
    client = _FastClient(
        CallbackAPIVersion.VERSION2, client_id="t", protocol=paho.MQTTv5, manual_ack=True
    )
    got: list[int] = []
    client.on_incoming = lambda _t, _p, _q, mid, _r: got.append(mid)
    client._sock = _BufferedSocket(_Wire(data))
    turns = []
    while True:
        before = len(got)
        assert client.loop_read() == paho.MQTT_ERR_SUCCESS
        turns.append(len(got) - before)
        if not client.buffered() and turns[-1] == 0:
            break
        assert len(turns) < total  # the loop ends
    client._sock = None
    assert got == [1 + i % 65535 for i in range(total)]  # every packet once, in order
    per_read = 256 * 1024 // len(_backlog_packet(1)) + 1
    assert max(turns) <= mqtt._MAX_PACKETS_PER_READ + per_read  # at most one more read's worth
    assert len([t for t in turns if t]) >= total // (mqtt._MAX_PACKETS_PER_READ + per_read)
