"""Sans-I/O encoding and decoding of the MQTT v5 packets Trygg uses.

Our own codec rather than the ``mqtt5`` package because measured on this machine
(``python -m bench.mqtt_codec``) decoding a whole read buffer straight into
:class:`~trygg.mqtt.model.Incoming` records in one Python loop is as fast as ``mqtt5``
plus the conversion its objects need, and it costs no compiled dependency on the Pi.

A client needs: CONNECT, PUBLISH (QoS 0/1), PUBACK, SUBSCRIBE, PINGREQ and DISCONNECT out;
CONNACK, PUBLISH, PUBACK, SUBACK, PINGRESP and DISCONNECT in. QoS 2 is not part of the
contract and is refused on both sides. Nothing here does I/O or keeps state between calls
except :class:`Decoder`'s unread tail.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from trygg.mqtt.model import Incoming, MqttError, Will

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_PUBACK = struct.Struct("!BBH")

PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"  # reason 0: normal disconnection, the broker drops the Will

# Property identifier -> how its value is encoded (MQTT v5, section 2.2.2.2).
_BYTE, _TWO, _FOUR, _VARINT, _STRING, _BINARY, _PAIR = range(7)
_PROPERTY_KIND = {
    0x01: _BYTE, 0x02: _FOUR, 0x03: _STRING, 0x08: _STRING, 0x09: _BINARY, 0x0B: _VARINT,
    0x11: _FOUR, 0x12: _STRING, 0x13: _TWO, 0x15: _STRING, 0x16: _BINARY, 0x17: _BYTE,
    0x18: _FOUR, 0x19: _BYTE, 0x1A: _STRING, 0x1C: _STRING, 0x1F: _STRING, 0x21: _TWO,
    0x22: _TWO, 0x23: _TWO, 0x24: _BYTE, 0x25: _BYTE, 0x26: _PAIR, 0x27: _FOUR, 0x28: _BYTE,
    0x29: _BYTE, 0x2A: _BYTE,
}  # fmt: skip
SERVER_KEEP_ALIVE = 0x13
RECEIVE_MAXIMUM = 0x21
REASON_STRING = 0x1F


class ProtocolError(MqttError):
    """The peer sent bytes that are not a packet this client accepts."""


@dataclass(frozen=True, slots=True)
class ConnAck:
    session_present: bool
    reason: int
    properties: dict[int, int | str | bytes]


@dataclass(frozen=True, slots=True)
class PubAck:
    mid: int
    reason: int


@dataclass(frozen=True, slots=True)
class SubAck:
    """A SUBACK, or (``unsubscribe``) an UNSUBACK: the same layout, one reason per filter."""

    mid: int
    reasons: tuple[int, ...]
    unsubscribe: bool = False


@dataclass(frozen=True, slots=True)
class PingResp:
    pass


@dataclass(frozen=True, slots=True)
class Disconnect:
    reason: int


Packet = Incoming | ConnAck | PubAck | SubAck | PingResp | Disconnect


# ---- encoding ------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return _U16.pack(len(data)) + data


def _packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + _varint(len(body)) + body


def connect(
    client_id: str,
    *,
    keepalive_s: int,
    clean_start: bool,
    session_expiry_s: int = 0,
    receive_maximum: int = 65_535,
    username: str | None = None,
    password: str | None = None,
    will: Will | None = None,
) -> bytes:
    flags = 0x02 if clean_start else 0
    props = b""
    if session_expiry_s:
        props += b"\x11" + _U32.pack(session_expiry_s)
    if receive_maximum != 65_535:
        props += b"\x21" + _U16.pack(receive_maximum)
    payload = _string(client_id)
    if will is not None:
        if will.qos not in (0, 1):
            raise ValueError(f"will QoS {will.qos} is not supported")
        flags |= 0x04 | will.qos << 3 | (0x20 if will.retain else 0)
        payload += b"\x00" + _string(will.topic) + _U16.pack(len(will.payload)) + will.payload
    if username is not None:
        flags |= 0x80
        payload += _string(username)
    if password is not None:
        flags |= 0x40
        secret = password.encode()
        payload += _U16.pack(len(secret)) + secret
    header = b"\x00\x04MQTT\x05" + bytes((flags,)) + _U16.pack(keepalive_s)
    return _packet(0x10, header + _varint(len(props)) + props + payload)


def publish(
    topic: str, payload: bytes, *, qos: int = 0, mid: int = 0, retain: bool = False
) -> bytes:
    """A PUBLISH without properties; ``mid`` only with QoS 1."""
    if qos not in (0, 1):
        raise ValueError(f"QoS {qos} is not supported")
    if not topic or "+" in topic or "#" in topic:
        raise ValueError(f"not a topic to publish to: {topic!r}")
    name = topic.encode()
    ident = _U16.pack(mid) if qos else b""
    size = 2 + len(name) + len(ident) + 1 + len(payload)
    first = 0x30 | qos << 1 | (1 if retain else 0)
    return b"".join(
        (bytes((first,)), _varint(size), _U16.pack(len(name)), name, ident, b"\x00", payload)
    )


def puback(mid: int) -> bytes:
    """A PUBACK with reason 0 (success), in its short form."""
    return _PUBACK.pack(0x40, 2, mid)


def pubacks(mids: Iterable[int]) -> bytes:
    pack = _PUBACK.pack
    return b"".join([pack(0x40, 2, mid) for mid in mids])


def subscribe(mid: int, topics: Iterable[str], qos: int) -> bytes:
    if qos not in (0, 1):
        raise ValueError(f"QoS {qos} is not supported")
    body = _U16.pack(mid) + b"\x00" + b"".join(_string(t) + bytes((qos,)) for t in topics)
    return _packet(0x82, body)


def unsubscribe(mid: int, topics: Iterable[str]) -> bytes:
    return _packet(0xA2, _U16.pack(mid) + b"\x00" + b"".join(_string(t) for t in topics))


# ---- decoding ------------------------------------------------------------------------
def _properties(data: bytes, pos: int, stop: int) -> tuple[dict[int, int | str | bytes], int]:
    """The properties at ``pos`` (their length first) and the position after them."""
    length, pos = _read_varint(data, pos, stop)
    end = pos + length
    if end > stop:
        raise ProtocolError("properties longer than their packet")
    found: dict[int, int | str | bytes] = {}
    while pos < end:
        ident = data[pos]
        kind = _PROPERTY_KIND.get(ident)
        pos += 1
        value: int | str | bytes
        if kind == _BYTE:
            value, pos = data[pos], pos + 1
        elif kind == _TWO:
            value, pos = _U16.unpack_from(data, pos)[0], pos + 2
        elif kind == _FOUR:
            value, pos = _U32.unpack_from(data, pos)[0], pos + 4
        elif kind == _VARINT:
            value, pos = _read_varint(data, pos, end)
        elif kind in (_STRING, _BINARY):
            size = _U16.unpack_from(data, pos)[0]
            raw = bytes(data[pos + 2 : pos + 2 + size])
            value, pos = (
                (raw.decode("utf-8", "replace") if kind == _STRING else raw),
                pos + 2 + size,
            )
        elif kind == _PAIR:
            pos += 2 + _U16.unpack_from(data, pos)[0]
            pos += 2 + _U16.unpack_from(data, pos)[0]
            continue  # user properties: none of the project's business
        else:
            raise ProtocolError(f"unknown property {ident:#x}")
        found[ident] = value
    if pos != end:
        raise ProtocolError("property overruns its section")
    return found, end


def _read_varint(data: bytes, pos: int, stop: int) -> tuple[int, int]:
    value, shift = 0, 0
    for i in range(pos, min(pos + 4, stop)):
        byte = data[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i + 1
        shift += 7
    raise ProtocolError("malformed variable byte integer")


def _other(first: int, data: bytes, start: int, stop: int) -> Packet:
    """Any packet but PUBLISH and the short PUBACK (the fast path in :meth:`Decoder.feed`)."""
    kind = first >> 4
    try:
        if kind == 4 and stop - start >= 2:  # PUBACK with a reason and perhaps properties
            mid = _U16.unpack_from(data, start)[0]
            return PubAck(mid, data[start + 2] if stop - start > 2 else 0)
        if kind == 2 and stop - start >= 2:
            props, _ = _properties(data, start + 2, stop) if stop - start > 2 else ({}, stop)
            return ConnAck(bool(data[start] & 1), data[start + 1], props)
        if kind in (9, 11) and stop - start >= 3:
            mid = _U16.unpack_from(data, start)[0]
            _, pos = _properties(data, start + 2, stop)
            return SubAck(mid, tuple(data[pos:stop]), unsubscribe=kind == 11)
        if kind == 13 and stop == start:
            return PingResp()
        if kind == 14:
            return Disconnect(data[start] if stop > start else 0)
    except (IndexError, struct.error) as exc:
        raise ProtocolError(f"truncated packet of type {kind}") from exc
    raise ProtocolError(f"unexpected packet: first byte {first:#04x}, {stop - start} bytes")


def _publish(first: int, data: bytes, start: int, stop: int) -> Incoming:
    qos = (first >> 1) & 3
    if qos > 1:
        raise ProtocolError("QoS 2 PUBLISH (the client never subscribes at QoS 2)")
    try:
        end = start + 2 + _U16.unpack_from(data, start)[0]
        if qos:
            mid = _U16.unpack_from(data, end)[0]
            pos = end + 2
        else:
            mid, pos = 0, end
        if data[pos] == 0:  # no properties: the common case
            pos += 1
        else:
            _, pos = _properties(data, pos, stop)
        topic = str(data[start + 2 : end], "utf-8")
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError("malformed PUBLISH") from exc
    if end > stop or pos > stop or end == start + 2:
        raise ProtocolError("malformed PUBLISH (or a topic alias, which is never enabled)")
    return Incoming(topic, data[pos:stop], qos, mid, bool(first & 1))


class Decoder:
    """Splits a byte stream into packets; keeps only the unread tail between feeds."""

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, data: bytes) -> list[Packet]:
        """Every whole packet in what has arrived so far, in order; raises ProtocolError
        on a malformed one (the connection must then be dropped)."""
        if self._tail:
            data = self._tail + data
            self._tail = b""
        out: list[Packet] = []
        append = out.append
        size, pos = len(data), 0
        u16 = _U16.unpack_from
        while pos + 2 <= size:
            first = data[pos]
            length = data[pos + 1]
            i = pos + 2
            if length & 0x80:
                length, i = (
                    _read_varint(data, pos + 1, size)
                    if size - pos > 5
                    else _partial(data, pos + 1, size)
                )
                if i < 0:
                    break
            stop = i + length
            if stop > size:
                break
            kind = first & 0xF0
            if kind == 0x30:
                qos = first & 0x06
                if qos <= 2 and length > 3:  # QoS 0 or 1 without properties, inlined
                    end = i + 2 + u16(data, i)[0]
                    body = end + 2 if qos else end
                    if body < stop and data[body] == 0 and end > i + 2:
                        try:
                            topic = str(data[i + 2 : end], "utf-8")
                        except UnicodeDecodeError as exc:
                            raise ProtocolError("topic is not UTF-8") from exc
                        mid = u16(data, end)[0] if qos else 0
                        append(
                            Incoming(topic, data[body + 1 : stop], qos >> 1, mid, first & 1 == 1)
                        )
                        pos = stop
                        continue
                append(_publish(first, data, i, stop))
            elif first == 0x40 and length == 2:
                append(PubAck(u16(data, i)[0], 0))
            else:
                append(_other(first, data, i, stop))
            pos = stop
        if pos < size:
            self._tail = data[pos:]
        return out


def _partial(data: bytes, pos: int, size: int) -> tuple[int, int]:
    """A remaining length that may be cut by the end of the buffer: ``(0, -1)`` if so."""
    try:
        return _read_varint(data, pos, size)
    except ProtocolError:
        if size - pos < 4 and all(b & 0x80 for b in data[pos:size]):
            return 0, -1
        raise
