"""The one owner of the MQTT client (paho-mqtt 2.x), bridged to asyncio.

Why paho and not aiomqtt: the hub must acknowledge a message to the broker only after its
data is stored (``manual_ack``), and the edge must see a PUBACK reason code >= 0x80 (an ACL
refusal over MQTT v5) so it keeps the message; aiomqtt 2.5 exposes neither.

Paho runs on the asyncio event loop itself, through its external-loop API (as in paho's
``examples/loop_asyncio.py``): no network thread and no wake-up socket pair per connection.
The TCP connect (and TLS handshake) is done by asyncio and the ready socket is handed to
paho; the socket's readiness calls ``loop_read``/``loop_write``; one timer per event loop
runs ``loop_misc`` (keepalive) for all its connections. Writes queued in one loop iteration
go out together. A process can hold thousands of connections (the simulator's fleet).

One :class:`Connection` is one MQTT connection. Reconnecting (with jittered exponential
back-off) is the caller's loop: make a new Connection each time (see :func:`backoff`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
import ssl
import struct
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger(__name__)


_READ_CHUNK = 256 * 1024
_MAX_PACKETS_PER_READ = 2000
_PUBACK = struct.Struct("!BBH")
_U16 = struct.Struct("!H")
_CONNECT_TIMEOUT_S = 15.0
_CONNECT_RETRY_MIN_S = 1.0


class _BufferedSocket:
    """A socket whose small reads are served from one large ``recv``.

    Paho reads every packet with three ``recv`` calls (command byte, each length byte, body)
    and one ``select`` per packet; measured on this machine that caps a subscriber at
    ~20k messages/s. Reading 256 KiB at a time and reporting the buffered bytes through
    ``pending()`` (which paho already honours for TLS) removes almost all of those system
    calls; paho's packet parsing is unchanged.
    """

    __slots__ = ("_buf", "_pos", "_sock")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, size: int) -> bytes:
        available = len(self._buf) - self._pos
        if available <= 0:
            data = self._sock.recv(max(size, _READ_CHUNK))
            if len(data) <= size:
                return bytes(data)
            self._buf, self._pos = data, size
            return bytes(data[:size])
        take = min(size, available)
        start = self._pos
        self._pos += take
        if self._pos >= len(self._buf):
            chunk = self._buf[start:]
            self._buf, self._pos = b"", 0
            return chunk
        return self._buf[start : self._pos]

    def fill(self) -> bool:
        """Read what the socket has into the empty buffer; False at end of stream. Raises
        BlockingIOError (or ssl.SSLWantReadError) when nothing has arrived."""
        data = self._sock.recv(_READ_CHUNK)
        self._buf, self._pos = data, 0
        return bool(data)

    def take_packets(self, publish: PublishSink, puback: PubackSink | None) -> int:
        """Hand each whole plain PUBLISH (see :func:`plain_publish`) and, with ``puback``
        given, each plain PUBACK (see :func:`plain_puback`) at the head of the buffer to its
        sink, consuming it; stop at the first packet that is anything else or not yet wholly
        read, which paho then reads as usual. Returns how many were handed over."""
        buf, pos, size, count = self._buf, self._pos, len(self._buf), 0
        while pos + 2 <= size:
            command = buf[pos]
            if command & 0xF0 != 0x30 and (command != 0x40 or puback is None):
                break
            length, shift, i = 0, 0, pos + 1
            while i < size and i - pos <= 4:
                byte = buf[i]
                length |= (byte & 0x7F) << shift
                i += 1
                if byte < 0x80:
                    break
                shift += 7
            else:
                break  # remaining length not yet read (or malformed: paho says so)
            if i + length > size:
                break
            if command == 0x40:
                ack = plain_puback(buf, i, i + length)
                if ack is None or puback is None:
                    break
                pos = self._pos = i + length
                puback(*ack)
            else:
                fields = plain_publish(command, buf, i, i + length)
                if fields is None:
                    break
                pos = self._pos = i + length  # consumed first: a raising sink loses only its own
                publish(fields)
            count += 1
        if pos >= size:
            self._buf, self._pos = b"", 0
        return count

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buf) - self._pos + int(inner)

    def send(self, data: bytes | bytearray) -> int:
        return int(self._sock.send(data))

    def close(self) -> None:
        self._sock.close()

    def fileno(self) -> int:
        return int(self._sock.fileno())

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


IncomingSink = Callable[[str, bytes, int, int, bool], None]
"""``(topic, payload, qos, mid, retain)`` of a received PUBLISH."""
PublishSink = Callable[[tuple[str, bytes, int, int, bool]], object]
PubackSink = Callable[[int, int], None]
"""``(mid, reason code)`` of a received PUBACK."""


def plain_puback(packet: bytes | bytearray, start: int, stop: int) -> tuple[int, int] | None:
    """``(mid, reason code)`` of an MQTT v5 PUBACK (``packet[start:stop]`` what follows
    the remaining length) without properties; None for anything else, which paho takes."""
    size = stop - start
    if size == 2:
        return _U16.unpack_from(packet, start)[0], 0  # no reason code: success
    if size == 3 or (size == 4 and packet[start + 3] == 0):
        return _U16.unpack_from(packet, start)[0], packet[start + 2]
    return None


def plain_publish(
    command: int, packet: bytes | bytearray, start: int = 0, stop: int | None = None
) -> tuple[str, bytes, int, int, bool] | None:
    """``(topic, payload, qos, mid, retain)`` of an MQTT v5 PUBLISH (``command`` is its
    first byte, ``packet[start:stop]`` what follows the remaining length) if it is the
    common case: QoS 0 or 1, a non-empty UTF-8 topic, no properties. None for anything else
    (including a malformed packet), which paho's own handler then takes."""
    qos = (command & 0x06) >> 1
    stop = len(packet) if stop is None else stop
    if qos > 1 or stop - start < 3:
        return None
    end = start + 2 + _U16.unpack_from(packet, start)[0]
    mid = 0
    if qos:
        if stop < end + 3:
            return None
        mid = _U16.unpack_from(packet, end)[0]
        props = end + 2
    else:
        props = end
    if end == start + 2 or stop <= props or packet[props] != 0:
        return None  # an empty topic (alias) or properties: paho parses those
    try:
        topic = str(packet[start + 2 : end], "utf-8")
    except UnicodeDecodeError:
        return None
    payload = bytes(memoryview(packet)[props + 1 : stop])  # one copy, bytes or bytearray
    return topic, payload, qos, mid, bool(command & 0x01)


class _FastClient(paho.Client):
    """Paho with buffered reads; every packet still goes through paho's own handlers, except
    the common PUBLISH when ``on_incoming`` is set (see :meth:`_handle_publish`).

    ``ready_socket`` is a socket asyncio already connected (and TLS-wrapped); paho's
    ``reconnect()`` takes it instead of opening a blocking one itself (paho's own blocking
    connect remains for plain paho use, e.g. bench/ingest.py's threaded clients)."""

    ready_socket: Any = None
    on_incoming: IncomingSink | None = None
    on_puback: PubackSink | None = None

    def _handle_publish(self) -> Any:
        """Paho's PUBLISH handler, with a short path for the common packet.

        Paho builds a v5 ``Properties`` object for every incoming PUBLISH, even with no
        properties, then an ``MQTTMessage``, then matches the topic against per-filter
        callbacks under two locks: measured on this machine, ~40 % of paho's cost per
        packet, the Properties alone ~30 %. With ``on_incoming`` set, a QoS 0/1 PUBLISH with
        no properties and a valid topic goes straight to it and gets the PUBACK paho would
        send (none with ``manual_ack``); everything else (QoS 2, properties, topic alias,
        malformed) is paho's own handler and ``on_message``. ``message_callback_add``
        filters are bypassed by the short path (Connection uses none). Overrides a private
        paho 2.x method: tests/trygg/test_mqtt.py pins paho's source of it and checks both
        paths deliver the same messages."""
        if self.on_incoming is not None and self._protocol == paho.MQTTv5:
            fields = plain_publish(self._in_packet["command"], self._in_packet["packet"])
            if fields is not None:
                return self._deliver(fields)
        return super()._handle_publish()

    def _deliver(self, fields: tuple[str, bytes, int, int, bool]) -> Any:
        """A plain PUBLISH to ``on_incoming``, and the PUBACK paho would send (none with
        ``manual_ack``)."""
        assert self.on_incoming is not None
        self.on_incoming(*fields)
        if fields[2] == 1 and not self._manual_ack:
            return self._send_puback(fields[3])
        return paho.MQTT_ERR_SUCCESS

    def _create_socket(self) -> Any:
        sock, self.ready_socket = self.ready_socket, None
        return _BufferedSocket(sock if sock is not None else super()._create_socket())

    def _puback(self, mid: int, code: int) -> None:
        """A PUBACK taken from the buffer: paho's bookkeeping for it (``_handle_pubackcomp``
        and ``_do_on_publish``), then ``on_puback`` with the plain reason code instead of
        paho's ReasonCode and Properties objects."""
        with self._out_message_mutex:
            msg = self._out_messages.pop(mid, None)
        if msg is None:
            return  # not ours (or already settled): paho ignores it too
        msg.info._set_as_published()
        if msg.qos > 0:
            self._inflight_messages -= 1
            if self._max_inflight_messages > 0:
                self._update_inflight()
        assert self.on_puback is not None
        self.on_puback(mid, code)

    def loop_read(self, max_packets: int = 1) -> Any:
        """Read what the socket has and handle every packet in it.

        With ``on_incoming`` set (MQTT v5), whole plain PUBLISH packets, and PUBACKs when
        ``on_puback`` is set too, are taken straight from the buffer; paho reads a packet
        only when it is anything else, cut by the end of a read, or half-read by paho
        already. Paho's own reading of one packet (five ``recv`` calls on the buffer, a
        lock, its packet state, a ReasonCode and a Properties object for a PUBACK) cost
        about as much as everything else a subscriber or a device does with it."""
        direct = self.on_incoming is not None and self._protocol == paho.MQTTv5
        puback = self._puback if self.on_puback is not None else None
        rc: Any = paho.MQTT_ERR_SUCCESS
        packets = 0  # handed over this call: past _MAX_PACKETS_PER_READ the loop gets a turn
        while packets < _MAX_PACKETS_PER_READ:
            packets += 1
            sock = self._sock
            if direct and isinstance(sock, _BufferedSocket) and self._in_packet["command"] == 0:
                if sock.pending() <= 0:
                    try:
                        if not sock.fill():
                            return self._read_one()  # end of stream: paho reports it
                    except (BlockingIOError, ssl.SSLWantReadError):
                        return paho.MQTT_ERR_SUCCESS
                    except OSError:
                        return self._read_one()  # paho's read reports the error
                taken = sock.take_packets(self._deliver, puback)
                packets += taken
                if taken:
                    with self._msgtime_mutex:
                        self._last_bytes_received = paho.time_func()
                if sock.pending() <= 0 or self._sock is not sock:
                    return paho.MQTT_ERR_SUCCESS
            rc = self._read_one()
            if rc or not self.buffered():
                return rc
        return rc

    def _read_one(self) -> Any:
        """One packet through paho: the body of paho's ``loop_read`` loop, which itself
        reads as many packets as messages are in flight (all of them the slow way)."""
        if self._sock is None:
            return paho.MQTT_ERR_NO_CONN
        rc = self._packet_read()
        if rc > 0:
            return self._loop_rc_handle(rc)
        return paho.MQTT_ERR_SUCCESS  # done, or MQTT_ERR_AGAIN: the rest is not here yet

    def buffered(self) -> bool:
        """Bytes already read from the socket but not yet parsed (no readiness event for
        them will come)."""
        sock = self._sock
        return isinstance(sock, _BufferedSocket) and sock.pending() > 0

    def ack_many(self, mids: Iterable[int]) -> None:
        """Queue PUBACKs for many QoS 1 messages as one write (one wake-up of the loop)."""
        packet = b"".join(_PUBACK.pack(0x40, 2, mid) for mid in mids)
        if packet:
            self._packet_queue(0x40, packet, 0, 0)

    def publish_many(self, messages: Iterable[tuple[str, bytes, bool]]) -> None:
        """Queue QoS 0 PUBLISHes of ``(topic, payload, retain)`` as one write: the packets
        paho's ``publish`` makes (MQTT v5, no properties), without its objects per message
        (a message, its info, and once written a ReasonCode and a Properties for
        ``on_publish``: ~70 us a message, most of what Acking a replaying fleet cost the
        hub). ``on_publish`` is called once for them all, with mid 0 (never a real one)."""
        packet = b"".join(plain_publish_packet(*m) for m in messages)
        if packet:
            self._packet_queue(0x30, packet, 0, 0, info=paho.MQTTMessageInfo(0))


def plain_publish_packet(topic: str, payload: bytes, retain: bool) -> bytes:
    """A QoS 0 MQTT v5 PUBLISH with no properties, as paho packs it."""
    name = topic.encode()
    size = 2 + len(name) + 1 + len(payload)
    length = bytearray()
    while True:
        size, digit = divmod(size, 128)
        length.append(digit | (0x80 if size else 0))
        if not size:
            break
    return b"".join(
        (b"\x31" if retain else b"\x30", length, _U16.pack(len(name)), name, b"\x00", payload)
    )


class _Keepalive:
    """One timer per event loop calling paho's ``loop_misc`` (PINGREQ, keepalive timeout)
    for every connection on it, rather than a task per connection.

    The timer runs every quarter of the shortest keep-alive on the loop (at most every
    ``MAX_PERIOD_S``): a PINGREQ then goes out at most 1.25 keep-alives after the last
    packet, inside the broker's 1.5, and a silent broker is noticed within 2.25. A fixed
    one-second tick cost a simulator worker 1,000 ``loop_misc`` calls a second for agents
    that talk every 10 s anyway."""

    MIN_PERIOD_S = 0.25
    MAX_PERIOD_S = 15.0
    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Keepalive]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._clients: set[_FastClient] = set()
        self._timer: asyncio.TimerHandle | None = None
        self.period_s = self.MAX_PERIOD_S

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> _Keepalive:
        ka = cls._by_loop.get(loop)
        if ka is None:
            ka = cls._by_loop[loop] = cls(loop)
        return ka

    def add(self, client: _FastClient) -> None:
        self._clients.add(client)
        keepalive = client.keepalive  # 0: none; the broker's CONNACK may shorten it
        period = max(self.MIN_PERIOD_S, min(self.MAX_PERIOD_S, keepalive / 4 or self.MAX_PERIOD_S))
        if period < self.period_s:  # a shorter keep-alive than any before: tick sooner
            self.period_s = period
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if self._timer is None:
            self._timer = self._loop.call_later(self.period_s, self._tick)

    def discard(self, client: _FastClient) -> None:
        self._clients.discard(client)
        if not self._clients and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        self._timer = None
        for client in list(self._clients):
            try:
                client.loop_misc()
            except Exception:  # a failing connection must not stop the others' keepalive
                log.exception("mqtt keepalive")
        if self._clients and not self._loop.is_closed():
            self._timer = self._loop.call_later(self.period_s, self._tick)


async def _wait_fd(loop: asyncio.AbstractEventLoop, sock: socket.socket, *, write: bool) -> None:
    fut: asyncio.Future[None] = loop.create_future()
    fd = sock.fileno()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    (loop.add_writer if write else loop.add_reader)(fd, ready)
    try:
        await fut
    finally:
        (loop.remove_writer if write else loop.remove_reader)(fd)


async def _open_socket(
    loop: asyncio.AbstractEventLoop, host: str, port: int, context: ssl.SSLContext | None
) -> socket.socket:
    """A non-blocking TCP socket connected to the broker, TLS handshake done if asked."""
    try:  # an address needs no resolver (which would run in the executor's threads)
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        infos: list[tuple[Any, Any, int, str, Any]] = [
            (family, socket.SOCK_STREAM, 0, "", (host, port))
        ]
    except ValueError:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    last: OSError | None = None
    for family, type_, proto, _name, addr in infos:
        sock = socket.socket(family, type_, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, addr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        except BaseException:
            sock.close()
            raise
        if context is None:
            return sock
        try:
            tls = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
        except BaseException:
            sock.close()
            raise
        try:
            while True:
                try:
                    tls.do_handshake()
                    return tls
                except ssl.SSLWantReadError:
                    await _wait_fd(loop, tls, write=False)
                except ssl.SSLWantWriteError:
                    await _wait_fd(loop, tls, write=True)
        except BaseException:
            tls.close()
            raise
    raise last or OSError(f"cannot resolve {host}:{port}")


class MqttError(RuntimeError):
    """Connection refused or lost, or a publish the broker refused."""


class PublishRefusedError(MqttError):
    def __init__(self, topic: str, reason: int) -> None:
        super().__init__(f"broker refused publish to {topic}: reason {reason:#x}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True, slots=True)
class MqttSettings:
    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: int = 60
    clean_start: bool = True
    session_expiry_s: int = 0
    receive_maximum: int = 65_535


@dataclass(frozen=True, slots=True)
class Incoming:
    topic: str
    payload: bytes
    qos: int
    mid: int
    retain: bool


def backoff(minimum: float, maximum: float) -> Iterator[float]:
    """Full-jitter exponential back-off delays: uniform(0, min(max, minimum * 2**n))."""
    attempt = 0
    while True:
        yield random.uniform(minimum / 2, min(maximum, minimum * 2**attempt))  # noqa: S311
        attempt += 1


class Connection:
    """An MQTT v5 connection; use as ``async with Connection(...) as conn``."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        will: Will | None = None,
        manual_ack: bool = False,
        max_batch: int = 5000,
        read_ahead: int = 0,
    ) -> None:
        self._settings = settings
        self._loop = asyncio.get_running_loop()
        self._client = _FastClient(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=paho.MQTTv5,
            manual_ack=manual_ack,
        )
        self._client.max_inflight_messages_set(0)  # no cap; the outbox window bounds it
        self._client.max_queued_messages_set(0)
        if settings.username:
            self._client.username_pw_set(settings.username, settings.password)
        self._tls: ssl.SSLContext | None = None
        if settings.ca_file:
            self._client.tls_set(
                ca_certs=str(settings.ca_file),
                certfile=str(settings.cert_file) if settings.cert_file else None,
                keyfile=str(settings.key_file) if settings.key_file else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
            self._tls = self._client._ssl_context
        if will is not None:
            self._client.will_set(will.topic, will.payload, will.qos, will.retain)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_incoming = self._on_incoming
        self._client.on_publish = self._on_publish
        self._client.on_puback = self._on_puback
        self._client.on_subscribe = self._on_subscribe
        self._client.on_socket_open = self._on_socket_open
        self._client.on_socket_close = self._on_socket_close
        self._client.on_socket_register_write = self._on_register_write
        self._client.on_socket_unregister_write = self._on_unregister_write
        self._keepalive = _Keepalive.of(self._loop)
        self._fd = -1
        self._refused = ""  # the last refusal while retrying the connect
        self._writer = False  # add_writer is on: the socket refused part of a write
        self._flush_handle: asyncio.Handle | None = None
        self._connected: asyncio.Future[bool] = self._loop.create_future()
        self.disconnected: asyncio.Future[str] = self._loop.create_future()
        self._inbox: list[Incoming] = []
        self._inbox_since = 0.0  # loop time the inbox last filled from empty
        self._inbox_event = asyncio.Event()
        self._max_batch = max_batch
        # Flow control (0: none): reading stops while the inbox holds this many messages,
        # so a session's backlog does not crowd everything else out of the event loop; it
        # never stops for longer than half a keep-alive (the PINGRESP must be read).
        self._read_ahead = read_ahead
        self._paused: asyncio.TimerHandle | None = None
        self._overflow = False  # the consumer fell behind for long: read on regardless
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._early: dict[int, int] = {}
        self._sub_pending: dict[int, asyncio.Future[list[int]]] = {}
        self.session_present = False

    # ---- paho's socket hooks (all on the event loop) -------------------------------------
    def _on_socket_open(self, _c: Any, _u: Any, sock: Any) -> None:
        self._fd = int(sock.fileno())
        self._loop.add_reader(self._fd, self._readable)
        self._keepalive.add(self._client)

    def _on_socket_close(self, _c: Any, _u: Any, _sock: Any) -> None:
        self._keepalive.discard(self._client)
        if self._paused is not None:
            self._paused.cancel()
            self._paused = None
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            if self._writer:
                self._loop.remove_writer(self._fd)
                self._writer = False
            self._fd = -1
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    def _on_register_write(self, _c: Any, _u: Any, _sock: Any) -> None:
        # Something was queued: write it at the end of this loop iteration, together with
        # whatever else gets queued meanwhile (one burst, not one send per publish).
        if self._flush_handle is None and not self._writer:
            self._flush_handle = self._loop.call_soon(self._flush)

    def _on_unregister_write(self, _c: Any, _u: Any, _sock: Any) -> None:
        if self._writer and self._fd >= 0:
            self._loop.remove_writer(self._fd)
        self._writer = False

    def _flush(self) -> None:
        self._flush_handle = None
        self._client.loop_write()
        if self._client.want_write() and self._fd >= 0 and not self._writer:
            # the socket buffer is full: wait until the kernel takes more
            self._writer = True
            self._loop.add_writer(self._fd, self._writable)

    def _writable(self) -> None:
        self._client.loop_write()

    def _readable(self) -> None:
        if self._paused is not None:
            return
        self._client.loop_read()
        if self._read_ahead and len(self._inbox) >= self._read_ahead and not self._overflow:
            self._pause()
        elif self._client.buffered():
            self._loop.call_soon(self._readable)  # drain the rest after others had a turn

    def _pause(self) -> None:
        if self._fd < 0:
            return
        self._loop.remove_reader(self._fd)
        limit = max(1.0, self._settings.keepalive_s / 2)
        self._paused = self._loop.call_later(limit, self._resume, True)

    def _resume(self, overflow: bool = False) -> None:
        """Read again (the consumer took messages, or the pause reached its limit)."""
        self._overflow = overflow
        if self._paused is None:
            return
        self._paused.cancel()
        self._paused = None
        if self._fd >= 0:
            self._loop.add_reader(self._fd, self._readable)
            self._loop.call_soon(self._readable)  # bytes already buffered raise no event

    # ---- paho callbacks ----------------------------------------------------------------
    def _on_connect(self, _c: Any, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        self.session_present = bool(getattr(flags, "session_present", False))
        if not reason.is_failure and self._fd >= 0:
            self._keepalive.add(self._client)  # again: the CONNACK may set a shorter one
        self._set_connected(not reason.is_failure, str(reason))

    def _set_connected(self, ok: bool, reason: str) -> None:
        if self._connected.done():
            return
        if ok:
            self._connected.set_result(True)
        else:
            self._connected.set_exception(MqttError(f"connection refused: {reason}"))

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._set_disconnected(str(reason))

    def _set_disconnected(self, reason: str) -> None:
        if not self._connected.done():
            self._connected.set_exception(MqttError(f"disconnected: {reason}"))
            self._connected.exception()  # whoever waits for the CONNACK gets it; else no one
        if not self.disconnected.done():
            self.disconnected.set_result(reason)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(MqttError(f"disconnected before PUBACK: {reason}"))
        self._pending.clear()
        self._inbox_event.set()

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        if not self._inbox:
            self._inbox_since = self._loop.time()
        self._inbox.append(Incoming(msg.topic, bytes(msg.payload), msg.qos, msg.mid, msg.retain))
        self._inbox_event.set()

    def _on_incoming(self, topic: str, payload: bytes, qos: int, mid: int, retain: bool) -> None:
        if not self._inbox:
            self._inbox_since = self._loop.time()
        self._inbox.append(Incoming(topic, payload, qos, mid, retain))
        self._inbox_event.set()

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        self._on_puback(mid, int(reason.value) if hasattr(reason, "value") else int(reason))

    def _on_puback(self, mid: int, code: int) -> None:
        if mid == 0:  # publish_many's QoS 0 messages were written
            return
        fut = self._pending.pop(mid, None)
        if fut is None:
            self._early[mid] = code
        elif not fut.done():
            fut.set_result(code)

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, reasons: Any, _p: Any) -> None:
        codes = [int(r.value) for r in reasons]
        fut = self._sub_pending.pop(mid, None)
        if fut is not None and not fut.done():
            fut.set_result(codes)

    # ---- asyncio side ----------------------------------------------------------------
    async def __aenter__(self) -> Connection:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if self._settings.session_expiry_s:
            props.SessionExpiryInterval = self._settings.session_expiry_s
        props.ReceiveMaximum = self._settings.receive_maximum
        host, port = self._settings.host, self._settings.port
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT_S):
                self._client.ready_socket = await self._open_retrying(host, port)
                self._client.connect_async(
                    host,
                    port,
                    keepalive=self._settings.keepalive_s,
                    clean_start=self._settings.clean_start,
                    properties=props,
                )
                self._client.reconnect()  # takes the ready socket, queues CONNECT
                await asyncio.shield(self._connected)
        except (OSError, TimeoutError, ssl.SSLError, MqttError) as exc:
            self._shutdown()
            reason = str(exc) or self._refused or f"no CONNACK within {_CONNECT_TIMEOUT_S:g} s"
            raise MqttError(f"cannot connect to {host}:{port}: {reason}") from exc
        except BaseException:
            self._shutdown()
            raise
        return self

    async def _open_retrying(self, host: str, port: int) -> Any:
        """The TCP (and TLS) connection, retried after 1, 2, 4, 8 s while refused, as
        paho's own loop did within the 15 s connect window: a broker that restarts is
        reached as soon as it is back, not after the caller's back-off has grown."""
        delay = _CONNECT_RETRY_MIN_S
        while True:
            try:
                return await _open_socket(self._loop, host, port, self._tls)
            except ConnectionRefusedError as exc:
                self._refused = str(exc)
                await asyncio.sleep(delay)
                delay *= 2

    async def __aexit__(self, *exc: object) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        """Send DISCONNECT (no Last Will) and close; the socket is closed whatever happens."""
        sock, self._client.ready_socket = self._client.ready_socket, None
        if sock is not None:
            sock.close()
        with contextlib.suppress(Exception):
            if self._client.socket() is not None:
                self._client.disconnect()
                self._client.loop_write()  # DISCONNECT is tiny: the socket takes it now
        self.abort("closed")

    def abort(self, reason: str = "aborted") -> None:
        """Drop the connection without a DISCONNECT, as a lost link would (the broker then
        publishes the Last Will)."""
        with contextlib.suppress(Exception):
            self._client._sock_close()  # unhooks the socket from the loop, then closes it
        self._on_socket_close(None, None, None)
        self._set_disconnected(reason)

    @property
    def is_connected(self) -> bool:
        return self._connected.done() and not self.disconnected.done()

    async def subscribe(self, *topics: str, qos: int = 1) -> None:
        if not self.is_connected:
            raise MqttError("not connected")
        result, mid = self._client.subscribe([(t, qos) for t in topics])
        if result != paho.MQTT_ERR_SUCCESS:
            raise MqttError(f"subscribe failed: {paho.error_string(result)}")
        fut: asyncio.Future[list[int]] = self._loop.create_future()
        assert mid is not None
        self._sub_pending[mid] = fut
        codes = await asyncio.wait_for(fut, timeout=15)
        if any(code >= 0x80 for code in codes):
            raise MqttError(f"subscription refused: {codes}")

    def publish_nowait(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[int]:
        """Queue a publish; the future gives the PUBACK reason code (0 or 16 = delivered to
        the broker) or raises PublishRefusedError / MqttError."""
        if self.disconnected.done():
            raise MqttError("not connected")
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise MqttError(f"publish failed: {paho.error_string(info.rc)}")
        fut: asyncio.Future[int] = self._loop.create_future()
        if qos == 0:
            fut.set_result(0)
            return fut
        early = self._early.pop(info.mid, None)
        if early is not None:
            fut.set_result(early)
        else:
            self._pending[info.mid] = fut
        return fut

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> int:
        code = await self.publish_nowait(topic, payload, qos=qos, retain=retain)
        if code >= 0x80:
            raise PublishRefusedError(topic, code)
        return code

    def waiting_since(self) -> float | None:
        """A loop time (monotonic) no later than the arrival of the oldest message not yet
        taken by :meth:`messages`; None when none waits."""
        return self._inbox_since if self._inbox else None

    async def messages(self) -> list[Incoming]:
        """The next batch of received messages (at most ``max_batch``); raises MqttError
        once the connection is gone and nothing is left."""
        while True:
            if self._inbox:
                batch = self._inbox[: self._max_batch]
                del self._inbox[: self._max_batch]
                if not self._inbox:
                    self._inbox_event.clear()
                if len(self._inbox) < self._read_ahead:
                    self._resume()
                return batch
            self._inbox_event.clear()
            if self.disconnected.done():
                raise MqttError(f"disconnected: {self.disconnected.result()}")
            await self._inbox_event.wait()

    def publish_many(self, messages: Iterable[tuple[str, bytes, bool]]) -> None:
        """Publish ``(topic, payload, retain)`` messages at QoS 0 in one write, fire and
        forget; topics as the contract makes them (no wildcards, not empty)."""
        if self.disconnected.done():
            raise MqttError("not connected")
        self._client.publish_many(messages)

    def ack(self, mid: int, qos: int) -> None:
        """Send the PUBACK for a message received with ``manual_ack``."""
        self._client.ack(mid, qos)

    def ack_many(self, messages: Iterable[Incoming]) -> None:
        """PUBACK every QoS 1 message of a batch received with ``manual_ack``, in one write.

        Only call this after the messages' data is durably stored; QoS 0 messages need no
        acknowledgement and QoS 2 is not used by the contract (it is acked one by one)."""
        if self.disconnected.done():
            return
        self._client.ack_many(m.mid for m in messages if m.qos == 1)
        for m in messages:
            if m.qos == 2:
                self._client.ack(m.mid, 2)
