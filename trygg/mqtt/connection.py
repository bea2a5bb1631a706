"""One MQTT v5 connection on the asyncio event loop: socket, TLS, keep-alive, acks.

The connection is an :class:`asyncio.Protocol`: asyncio's transport does the socket and
TLS, :mod:`trygg.mqtt.codec` the bytes. Writes queued in one loop iteration go out as one
``write``; received PUBLISHes wait in an inbox that :meth:`Connection.messages` hands out
in batches. With ``manual_ack`` nothing is acknowledged until :meth:`Connection.ack_many`
(the hub acks only what it has stored). Reconnecting is the caller's loop with
:class:`trygg.backoff.Backoff`: a Connection is one session of the link, never reused.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from trygg.mqtt import codec
from trygg.mqtt.keepalive import Keepalive
from trygg.mqtt.model import Incoming, MqttError, MqttSettings, PublishRefusedError, Will

_CONNECT_TIMEOUT_S = 15.0
_CONNECT_RETRY_MIN_S = 1.0
_SUBACK_TIMEOUT_S = 15.0
# A connection quiet for this share of its keep-alive sends a PINGREQ; with the timer's
# quarter-keep-alive tick it is sent within one keep-alive, inside the broker's 1.5.
_PING_AFTER = 0.75


def tls_context(settings: MqttSettings) -> ssl.SSLContext | None:
    """The client's TLS context (server verified against ``ca_file``, client certificate if
    given); None for plain TCP."""
    if settings.ca_file is None:
        return None
    context = ssl.create_default_context(cafile=str(settings.ca_file))
    if settings.cert_file is not None:
        key = str(settings.key_file) if settings.key_file else None
        context.load_cert_chain(str(settings.cert_file), key)
    return context


class Connection(asyncio.Protocol):
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
        self._will = will
        self._manual_ack = manual_ack
        self._loop = asyncio.get_running_loop()
        self._tls = tls_context(settings)
        self._transport: asyncio.Transport | None = None
        self._decoder = codec.Decoder()
        self._keepalive = Keepalive.of(self._loop)
        self.keepalive_s: float = float(settings.keepalive_s)
        self._last_in = self._last_out = self._ping_sent = 0.0
        self._out: list[bytes] = []
        self._flush_handle: asyncio.Handle | None = None
        self._refused = ""  # the last refusal while retrying the connect
        self._connected: asyncio.Future[bool] = self._loop.create_future()
        self.disconnected: asyncio.Future[str] = self._loop.create_future()
        self.session_present = False
        self.node = ""  # the broker node (host:port) this connection reached
        self._accepted = False  # the broker's CONNACK said success
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
        self._next_mid = 0
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._sub_pending: dict[int, asyncio.Future[tuple[int, ...]]] = {}
        self._quota = 65_535  # the broker's Receive Maximum: QoS 1 publishes in flight
        self._held: deque[bytes] = deque()  # QoS 1 publishes past the quota, in order

    # ---- asyncio.Protocol ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._last_in = self._last_out = self._loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._set_disconnected(str(exc) if exc else "connection closed by the broker")

    def data_received(self, data: bytes) -> None:
        self._last_in = self._loop.time()
        try:
            packets = self._decoder.feed(data)
        except codec.ProtocolError as exc:
            self.abort(str(exc))
            return
        inbox = self._inbox
        was_empty = not inbox
        acks: list[int] = []
        for packet in packets:
            if type(packet) is Incoming:
                inbox.append(packet)
                if packet.qos and not self._manual_ack:
                    acks.append(packet.mid)
            elif type(packet) is codec.PubAck:
                self._settle(packet.mid, packet.reason)
            else:
                self._control(packet)
        if acks:
            self._send(codec.pubacks(acks))
        if inbox:
            if was_empty:
                self._inbox_since = self._last_in
            self._inbox_event.set()
            full = self._read_ahead and len(inbox) >= self._read_ahead
            # A SUBACK is behind what fills the inbox: reading on while one is awaited keeps a
            # slow consumer from timing out its own subscriptions (the broker's receive
            # maximum still bounds what is read).
            if full and not self._overflow and not self._sub_pending:
                self._pause()

    def _control(self, packet: codec.Packet) -> None:
        if isinstance(packet, codec.ConnAck):
            self._on_connack(packet)
        elif isinstance(packet, codec.SubAck):
            fut = self._sub_pending.pop(packet.mid, None)
            if fut is not None and not fut.done():
                fut.set_result(packet.reasons)
        elif isinstance(packet, codec.Disconnect):
            self.abort(f"disconnected by the broker: reason {packet.reason:#x}")
        # PINGRESP: its arrival (``_last_in``) is all that matters

    def _on_connack(self, packet: codec.ConnAck) -> None:
        if self._connected.done():
            return
        if packet.reason >= 0x80:
            why = str(packet.properties.get(codec.REASON_STRING, ""))
            self._connected.set_exception(
                MqttError(f"connection refused: reason {packet.reason:#x} {why}".rstrip())
            )
            return
        self.session_present = packet.session_present
        server_keepalive = packet.properties.get(codec.SERVER_KEEP_ALIVE)
        if isinstance(server_keepalive, int):
            self.keepalive_s = float(server_keepalive)
        quota = packet.properties.get(codec.RECEIVE_MAXIMUM)
        if isinstance(quota, int) and quota > 0:
            self._quota = quota
        self._accepted = True
        self._keepalive.add(self)
        self._connected.set_result(True)

    # ---- writing -------------------------------------------------------------------------
    def _send(self, data: bytes) -> None:
        """Queue bytes; everything queued in this loop iteration is written together."""
        self._out.append(data)
        if self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        out, self._out = self._out, []
        if self._transport is not None and out:
            self._transport.write(b"".join(out))
            self._last_out = self._loop.time()

    def _mid(self) -> int:
        for _ in range(65_535):
            self._next_mid = self._next_mid % 65_535 + 1
            if self._next_mid not in self._pending and self._next_mid not in self._sub_pending:
                return self._next_mid
        raise MqttError("all 65535 packet identifiers are in flight")

    def _settle(self, mid: int, reason: int) -> None:
        fut = self._pending.pop(mid, None)
        if fut is None:
            return  # not ours (or already settled)
        if not fut.done():
            fut.set_result(reason)
        if self._held:
            self._send(self._held.popleft())

    # ---- keep-alive ----------------------------------------------------------------------
    def keepalive_check(self, now: float) -> None:
        keepalive = self.keepalive_s
        if not keepalive or self._transport is None:
            return
        if self._ping_sent > self._last_in and now - self._ping_sent >= keepalive:
            self.abort(f"keep-alive timeout: nothing from the broker for {keepalive:g} s")
            return
        quiet_out = now - self._last_out >= keepalive * _PING_AFTER
        quiet_in = now - self._last_in >= keepalive
        if (quiet_out or quiet_in) and self._ping_sent <= self._last_in:
            self._ping_sent = now
            self._transport.write(codec.PINGREQ)
            self._last_out = now

    # ---- read-ahead ----------------------------------------------------------------------
    def _pause(self) -> None:
        if self._transport is None or self._paused is not None:
            return
        self._transport.pause_reading()
        limit = max(1.0, self.keepalive_s / 2)
        self._paused = self._loop.call_later(limit, self._resume, True)

    def _resume(self, overflow: bool = False) -> None:
        """Read again (the consumer took messages, or the pause reached its limit)."""
        self._overflow = overflow
        if self._paused is None:
            return
        self._paused.cancel()
        self._paused = None
        if self._transport is not None:
            self._transport.resume_reading()

    # ---- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> Connection:
        s = self._settings
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT_S):
                self.node = await self._open_retrying(s.nodes)
                assert self._transport is not None
                self._transport.write(
                    codec.connect(
                        s.client_id,
                        keepalive_s=s.keepalive_s,
                        clean_start=s.clean_start,
                        session_expiry_s=s.session_expiry_s,
                        receive_maximum=s.receive_maximum,
                        username=s.username or None,
                        password=s.password if s.username else None,
                        will=self._will,
                    )
                )
                self._last_out = self._loop.time()
                await asyncio.shield(self._connected)
        except (OSError, TimeoutError, ssl.SSLError, MqttError) as exc:
            self._shutdown()
            reason = str(exc) or self._refused or f"no CONNACK within {_CONNECT_TIMEOUT_S:g} s"
            where = ", ".join(f"{host}:{port}" for host, port in s.nodes)
            raise MqttError(f"cannot connect to {where}: {reason}") from exc
        except BaseException:
            self._shutdown()
            raise
        return self

    async def _open_retrying(self, nodes: tuple[tuple[str, int], ...]) -> str:
        """The TCP (and TLS) connection to the first node that accepts it, every node tried
        in turn and the round retried after 1, 2, 4, 8 s while all refuse within the connect
        window: a broker that restarts is reached as soon as it is back, not after the
        caller's back-off has grown. Returns the node connected to, as host:port."""
        delay = _CONNECT_RETRY_MIN_S
        while True:
            failure: OSError | None = None
            for host, port in nodes:
                try:
                    await self._loop.create_connection(
                        lambda: self,
                        host,
                        port,
                        ssl=self._tls,
                        server_hostname=host if self._tls else None,
                    )
                except ConnectionRefusedError as exc:
                    self._refused = f"{host}:{port}: {exc}"
                except OSError as exc:  # unreachable or unknown: the next node may answer
                    failure = exc
                else:
                    return f"{host}:{port}"
            if failure is not None and len(nodes) == 1:
                raise failure
            await asyncio.sleep(delay)
            delay *= 2

    async def __aexit__(self, *exc: object) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        """Send DISCONNECT (the broker drops the Will) after what is queued, and close."""
        transport = self._transport
        if transport is not None:
            if self.is_connected:
                self._out.append(codec.DISCONNECT)
                self._flush()
            transport.close()  # writes what is buffered first
        self._close("closed")

    def abort(self, reason: str = "aborted") -> None:
        """Drop the connection without a DISCONNECT, as a lost link would (the broker then
        publishes the Last Will)."""
        if self._transport is not None:
            self._transport.abort()
        self._close(reason)

    def _close(self, reason: str) -> None:
        self._transport = None
        self._keepalive.discard(self)
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._paused is not None:
            self._paused.cancel()
            self._paused = None
        self._set_disconnected(reason)

    def _set_disconnected(self, reason: str) -> None:
        self._keepalive.discard(self)
        if not self._connected.done():
            self._connected.set_exception(MqttError(f"disconnected: {reason}"))
            self._connected.exception()  # whoever waits for the CONNACK gets it; else no one
        if not self.disconnected.done():
            self.disconnected.set_result(reason)
        futures: list[asyncio.Future[Any]] = [*self._pending.values(), *self._sub_pending.values()]
        for fut in futures:
            if not fut.done():
                fut.set_exception(MqttError(f"disconnected before the broker answered: {reason}"))
                fut.exception()  # a publish_nowait nobody awaits any more raises no warning
        self._pending.clear()
        self._sub_pending.clear()
        self._held.clear()
        self._inbox_event.set()

    @property
    def is_connected(self) -> bool:
        return self._accepted and not self.disconnected.done()

    # ---- the session's API ---------------------------------------------------------------
    async def subscribe(self, *topics: str, qos: int = 1) -> None:
        await self._subscription(lambda mid: codec.subscribe(mid, topics, qos))

    async def unsubscribe(self, *topics: str) -> None:
        """End these subscriptions of the session (one that did not exist is no error)."""
        await self._subscription(lambda mid: codec.unsubscribe(mid, topics))

    async def _subscription(self, packet: Callable[[int], bytes]) -> None:
        """Send a SUBSCRIBE or UNSUBSCRIBE made for its packet id; wait for its answer."""
        if not self.is_connected:
            raise MqttError("not connected")
        mid = self._mid()
        fut: asyncio.Future[tuple[int, ...]] = self._loop.create_future()
        self._sub_pending[mid] = fut
        self._send(packet(mid))
        self._resume()
        try:
            codes = await asyncio.wait_for(fut, timeout=_SUBACK_TIMEOUT_S)
        finally:
            self._sub_pending.pop(mid, None)
        if any(code >= 0x80 for code in codes):
            raise MqttError(f"subscription refused: {list(codes)}")

    def publish_nowait(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[int]:
        """Queue a publish; the future gives the PUBACK reason code (0 or 16 = delivered to
        the broker; at QoS 0, 0 at once) or raises MqttError if the connection is lost."""
        if self.disconnected.done():
            raise MqttError("not connected")
        fut: asyncio.Future[int] = self._loop.create_future()
        if qos == 0:
            self._send(codec.publish(topic, payload, retain=retain))
            fut.set_result(0)
            return fut
        mid = self._mid()
        packet = codec.publish(topic, payload, qos=qos, mid=mid, retain=retain)
        if len(self._pending) - len(self._held) >= self._quota:
            self._held.append(packet)
        else:
            self._send(packet)
        self._pending[mid] = fut
        return fut

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> int:
        code = await self.publish_nowait(topic, payload, qos=qos, retain=retain)
        if code >= 0x80:
            raise PublishRefusedError(topic, code)
        return code

    def publish_many(self, messages: Iterable[tuple[str, bytes, bool]]) -> None:
        """Publish ``(topic, payload, retain)`` messages at QoS 0 in one write, fire and
        forget."""
        if self.disconnected.done():
            raise MqttError("not connected")
        packet = b"".join([codec.publish(t, p, retain=r) for t, p, r in messages])
        if packet:
            self._send(packet)

    @property
    def backlog(self) -> int:
        """Messages received and not yet taken by :meth:`messages`."""
        return len(self._inbox)

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

    def ack(self, mid: int, qos: int) -> None:
        """Send the PUBACK for a message received with ``manual_ack`` (QoS 0 needs none)."""
        if qos == 1 and not self.disconnected.done():
            self._send(codec.puback(mid))

    def ack_many(self, messages: Iterable[Incoming]) -> None:
        """PUBACK every QoS 1 message of a batch received with ``manual_ack``, in one write.

        Only call this after the messages' data is durably stored."""
        if self.disconnected.done():
            return
        packet = codec.pubacks(m.mid for m in messages if m.qos == 1)
        if packet:
            self._send(packet)
