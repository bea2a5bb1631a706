"""What the ingest sends back to devices: end-to-end Acks, paced per device, and rebirth
requests after sequence gaps.

A device is sent at most one Ack per interval (the newest watermark; a trailing Ack follows
when more was stored meanwhile). Acking each device after every batch would cost a publish per
message when replaying, a large share of the drain. The interval is 0.25 s, stretched so
that the whole fleet costs at most ``_ACK_RATE`` Acks/s (500 devices: 1 s), and never past
``_ACK_INTERVAL_MAX_S``: far inside the devices' re-send timeout (60 s in the fleet config)
and outbox window (500 messages), because during a replay each device gets only its share
of the hub's drain rate. A rebirth is requested at most once per ``rebirth_interval_s`` of
wall time per device (a network round trip, which a simulated clock does not speed up).

Both go fire-and-forget at QoS 0: an Ack is cumulative and retained, a rebirth request is
repeated while the gap stays open, and the devices' sessions start clean, so QoS 1 would
only add a PUBACK each way (broker and device) per message.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable

from trygg import contract as c
from trygg.clock import Clock, to_ms
from trygg.mqtt import MqttError, MqttSession

log = logging.getLogger(__name__)

_ACK_INTERVAL_S = 0.25
_ACK_INTERVAL_MAX_S = 5.0
_ACK_RATE = 500.0


class DeviceReplies:
    """``connection`` gives the ingest's current broker connection (None between sessions);
    ``watermark`` gives a device's stored watermark, read when its Ack goes out."""

    def __init__(
        self,
        *,
        watermark: Callable[[str], int],
        clock: Clock,
        rebirth_interval_s: float,
        connection: Callable[[], MqttSession | None],
    ) -> None:
        self._watermark = watermark
        self._clock = clock
        self._rebirth_interval_s = rebirth_interval_s
        self._connection = connection
        self._acked_at: dict[str, float] = {}  # device -> loop time its last Ack was sent
        self._due: set[str] = set()  # stored more since then; a trailing Ack is due
        self._timer: asyncio.TimerHandle | None = None
        self._rebirth_at: dict[str, float] = {}

    def close(self) -> None:
        """Drop the trailing Acks' timer (the ingest stopped)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def acknowledge(self, conn: MqttSession, devices: Iterable[str]) -> None:
        """Tell each device its stored watermark: at once if it had no Ack in the last
        interval, else with the trailing flush."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        ts = to_ms(self._clock.now())
        acked_at, due = self._acked_at, self._due
        interval = self._interval()
        now_due = []
        for device in devices:
            if now - acked_at.get(device, -interval) >= interval:
                due.discard(device)
                now_due.append(device)
            else:
                due.add(device)
        self._send_acks(conn, now_due, now, ts)
        if due and self._timer is None:
            self._timer = loop.call_later(interval, self._flush)

    def request_rebirths(self, devices: set[str], now_ms: int) -> int:
        """Ask ``devices`` for a rebirth (each at most once per interval); returns how many
        requests went out."""
        conn = self._connection()
        if conn is None or not devices:
            return 0
        now, interval = asyncio.get_running_loop().time(), self._rebirth_interval_s
        requests = []
        for device in sorted(devices):
            if now - self._rebirth_at.get(device, -interval) < interval:
                continue
            self._rebirth_at[device] = now
            cmd = c.Command(id=uuid.uuid4().hex[:16], name="rebirth", ts=now_ms)
            requests.append((c.topic_for(device, c.Kind.CMD), c.encode(cmd), False))
            log.info("%s: rebirth requested", device)
        _publish(conn, requests)
        return len(requests)

    def _interval(self) -> float:
        return min(_ACK_INTERVAL_MAX_S, max(_ACK_INTERVAL_S, len(self._acked_at) / _ACK_RATE))

    def _flush(self) -> None:
        self._timer = None
        conn = self._connection()
        loop = asyncio.get_running_loop()
        if conn is None or not conn.is_connected:
            # Re-sent once connected again (a new batch also acks its devices).
            self._timer = loop.call_later(self._interval(), self._flush)
            return
        now = loop.time()
        ts = to_ms(self._clock.now())
        due, self._due = self._due, set()
        self._send_acks(conn, due, now, ts)

    def _send_acks(self, conn: MqttSession, devices: Iterable[str], now: float, ts: int) -> None:
        acks = []
        for device in devices:
            self._acked_at[device] = now
            ack = c.encode_ack(device=device, seq=self._watermark(device), ts=ts)
            acks.append((c.topic_for(device, c.Kind.ACK), ack, True))
        _publish(conn, acks)


def _publish(conn: MqttSession, messages: list[tuple[str, bytes, bool]]) -> None:
    """Publish at QoS 0 (see the module's doc), all in one write."""
    if not messages:
        return
    try:
        conn.publish_many(messages)
    except MqttError as exc:
        log.debug("%d publish(es) skipped: %s", len(messages), exc)
