"""The records an MQTT connection is configured with and hands out (all frozen)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class MqttError(RuntimeError):
    """Connection refused or lost, a malformed packet, or a publish the broker refused."""


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
    """A received PUBLISH; ``mid`` is what :meth:`Connection.ack` takes (0 at QoS 0)."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    retain: bool
