"""What the edge link and the hub depend on: a connected MQTT session, as a Protocol.

:class:`~trygg.mqtt.connection.Connection` is the one implementation; tests and parts
that only publish or only consume can be handed anything of this shape.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Protocol

from trygg.mqtt.model import Incoming


class MqttSession(Protocol):
    """One connected MQTT session (reconnecting makes a new one)."""

    disconnected: asyncio.Future[str]
    session_present: bool

    @property
    def is_connected(self) -> bool: ...

    async def subscribe(self, *topics: str, qos: int = 1) -> None: ...

    async def unsubscribe(self, *topics: str) -> None: ...

    def publish_nowait(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[int]: ...

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> int: ...

    def publish_many(self, messages: Iterable[tuple[str, bytes, bool]]) -> None: ...

    def waiting_since(self) -> float | None: ...

    async def messages(self) -> list[Incoming]: ...

    def ack_many(self, messages: Iterable[Incoming]) -> None: ...

    def abort(self, reason: str = "aborted") -> None: ...
