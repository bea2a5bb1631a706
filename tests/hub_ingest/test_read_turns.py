"""A replayed session's backlog arrives as fast as the broker can send it; one readiness
event must not read all of it before the ingest classifies anything. ``loop_read`` hands
over at most about ``_MAX_PACKETS_PER_READ`` packets per call and says the rest is still
buffered (``Connection._readable`` then calls it again after the loop's other work)."""

from __future__ import annotations

import struct

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from trygg import mqtt
from trygg.mqtt import _BufferedSocket, _FastClient


def _publish(mid: int) -> bytes:
    topic = b"trygg/v1/dev/d-1/data"
    rest = struct.pack("!H", len(topic)) + topic + struct.pack("!H", mid) + b"\x00"
    rest += b"p" * 1000  # a 20-reading message's size: ~250 packets per 256 KiB read
    length = bytes([len(rest) & 0x7F | 0x80, len(rest) >> 7])  # two bytes: 128 <= len < 16384
    return b"\x32" + length + rest  # QoS 1, no properties


class _Wire:
    """Fixed bytes, then 'would block'."""

    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def recv(self, size: int) -> bytes:
        chunk = self._data[self._pos : self._pos + size]
        if not chunk:
            raise BlockingIOError
        self._pos += len(chunk)
        return chunk

    def pending(self) -> int:
        return 0

    def close(self) -> None:
        pass


def test_a_large_backlog_is_read_in_turns_in_order() -> None:
    total = 5 * mqtt._MAX_PACKETS_PER_READ + 123
    data = b"".join(_publish(1 + i % 65535) for i in range(total))
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
    per_read = 256 * 1024 // len(_publish(1)) + 1
    assert max(turns) <= mqtt._MAX_PACKETS_PER_READ + per_read  # at most one more read's worth
    assert len([t for t in turns if t]) >= total // (mqtt._MAX_PACKETS_PER_READ + per_read)
