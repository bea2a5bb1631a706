"""trygg.mqtt.codec: what it encodes decodes to the same, however the bytes are cut; what
is malformed raises ProtocolError and nothing else."""

from __future__ import annotations

import ast
import contextlib
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from trygg.mqtt import Incoming, Will, codec

topics = st.text(
    st.characters(codec="utf-8", exclude_characters="+#\x00"),
    min_size=1,
    max_size=40,
)
messages = st.builds(
    Incoming,
    topic=topics,
    payload=st.binary(max_size=300) | st.sampled_from([b"x" * 127, b"y" * 20_000]),
    qos=st.sampled_from([0, 1]),
    mid=st.integers(1, 65_535),
    retain=st.booleans(),
)


def _encoded(m: Incoming) -> bytes:
    return codec.publish(m.topic, m.payload, qos=m.qos, mid=m.mid, retain=m.retain)


def _as_sent(m: Incoming) -> Incoming:
    return m if m.qos else Incoming(m.topic, m.payload, 0, 0, m.retain)


@given(st.lists(messages, max_size=20), st.integers(1, 400))
def test_publishes_decode_to_what_was_encoded_however_the_stream_is_cut(
    sent: list[Incoming], chunk: int
) -> None:
    stream = b"".join(_encoded(m) for m in sent) + codec.puback(7) + b"\xd0\x00"
    decoder, got = codec.Decoder(), []
    for i in range(0, len(stream), chunk):
        got += decoder.feed(stream[i : i + chunk])
    assert got == [*map(_as_sent, sent), codec.PubAck(7, 0), codec.PingResp()]


def test_a_publish_with_properties_is_decoded_past_them() -> None:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.UserProperty = ("k", "v")
    props.MessageExpiryInterval = 600
    props.ContentType = "application/json"
    packed = props.pack()  # type: ignore[no-untyped-call]
    body = struct.pack("!H", 3) + b"a/b" + struct.pack("!H", 9) + packed + b"payload"
    packet = bytes([0x33, len(body)]) + body
    assert codec.Decoder().feed(packet) == [Incoming("a/b", b"payload", 1, 9, True)]


def test_connack_pubacks_suback_and_unsuback() -> None:
    props = Properties(PacketTypes.CONNACK)  # type: ignore[no-untyped-call]
    props.ServerKeepAlive = 20
    props.ReceiveMaximum = 10
    props.AssignedClientIdentifier = "abc"
    packed = props.pack()  # type: ignore[no-untyped-call]
    connack = bytes([0x20, 2 + len(packed), 1, 0]) + packed
    refused = b"\x20\x03\x00\x87\x00"
    pubacks = b"\x40\x02\x00\x05" + b"\x40\x03\x00\x06\x87" + b"\x40\x04\x00\x08\x10\x00"
    suback = b"\x90\x05\x00\x03\x00\x01\x80"
    unsuback = b"\xb0\x05\x00\x04\x00\x00\x11"
    got = codec.Decoder().feed(connack + refused + pubacks + suback + unsuback + b"\xe0\x01\x8e")
    assert got == [
        codec.ConnAck(True, 0, {0x13: 20, 0x21: 10, 0x12: "abc"}),
        codec.ConnAck(False, 0x87, {}),
        codec.PubAck(5, 0),
        codec.PubAck(6, 0x87),
        codec.PubAck(8, 0x10),
        codec.SubAck(3, (1, 0x80)),
        codec.SubAck(4, (0, 0x11), unsubscribe=True),
        codec.Disconnect(0x8E),
    ]


def test_connect_carries_the_will_credentials_and_session_settings() -> None:
    packet = codec.connect(
        "dev-1",
        keepalive_s=30,
        clean_start=False,
        session_expiry_s=3600,
        receive_maximum=100,
        username="u",
        password="p",
        will=Will("t/w", b"gone", qos=1, retain=True),
    )
    assert packet[0] == 0x10
    body = packet[2:] if packet[1] < 0x80 else packet[3:]
    assert body[:7] == b"\x00\x04MQTT\x05"
    assert body[7] == 0x80 | 0x40 | 0x20 | 0x08 | 0x04  # user, password, will retain/QoS 1/flag
    assert struct.unpack("!H", body[8:10]) == (30,)
    assert body[10:19] == b"\x08\x11\x00\x00\x0e\x10\x21\x00\x64"
    assert body[19:].startswith(b"\x00\x05dev-1\x00\x00\x03t/w\x00\x04gone\x00\x01u\x00\x01p")


def test_what_the_contract_never_uses_is_refused() -> None:
    with pytest.raises(ValueError, match="QoS 2"):
        codec.publish("a", b"", qos=2, mid=1)
    with pytest.raises(ValueError, match="topic"):
        codec.publish("a/+", b"")
    with pytest.raises(codec.ProtocolError, match="QoS 2"):
        codec.Decoder().feed(b"\x34\x06\x00\x01a\x00\x01\x00")


@pytest.mark.parametrize(
    "data",
    [
        b"\x30\x02\x00\x05",  # topic longer than the packet
        b"\x30\x03\x00\x00\x00",  # empty topic (an alias, never enabled)
        b"\x30\x05\x00\x02\xff\xfe\x00",  # topic not UTF-8
        b"\x30\xff\xff\xff\xff\x01",  # remaining length of five bytes
        b"\xd0\x01\x00",  # PINGRESP with a body
        b"\x10\x00",  # CONNECT: a client never receives one
        b"\x20\x05\x00\x00\x03\x7f\x00",  # unknown property
    ],
)
def test_malformed_packets_are_protocol_errors(data: bytes) -> None:
    with pytest.raises(codec.ProtocolError):
        codec.Decoder().feed(data)


@given(st.binary(max_size=64))
def test_any_bytes_give_packets_or_a_protocol_error(data: bytes) -> None:
    with contextlib.suppress(codec.ProtocolError):  # anything else escaping fails the test
        codec.Decoder().feed(data)


def test_the_codec_imports_nothing_that_does_io() -> None:
    tree = ast.parse(Path(codec.__file__).read_text())
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name) or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported == {
        "__future__",
        "struct",
        "collections.abc",
        "dataclasses",
        "trygg.mqtt.model",
    }
