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
    # Further nodes of a clustered broker, tried in turn after (host, port) is unreachable.
    fallbacks: tuple[tuple[str, int], ...] = ()

    @property
    def nodes(self) -> tuple[tuple[str, int], ...]:
        """Every broker node to try, the first one first."""
        return ((self.host, self.port), *self.fallbacks)


def parse_nodes(text: str, *, default_port: int = 1883) -> tuple[tuple[str, int], ...]:
    """``host[:port]`` entries separated by commas (``[v6]:port`` for IPv6) as (host, port)
    pairs; ValueError names the first entry that is not one."""
    nodes: list[tuple[str, int]] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        host, port = entry, default_port
        if entry.startswith("["):
            host, sep, rest = entry[1:].partition("]")
            if not sep or (rest and not rest.startswith(":")):
                raise ValueError(f"broker node {entry!r}: expected [address]:port")
            if rest:
                port = _port(entry, rest[1:])
        elif entry.count(":") == 1:
            host, _, number = entry.partition(":")
            port = _port(entry, number)
        if not host or any(c.isspace() for c in host):
            raise ValueError(f"broker node {entry!r}: no host")
        nodes.append((host, port))
    return tuple(nodes)


def _port(entry: str, number: str) -> int:
    if not number.isdigit() or not 0 < int(number) < 65536:
        raise ValueError(f"broker node {entry!r}: port must be 1..65535")
    return int(number)


@dataclass(frozen=True, slots=True)
class Incoming:
    """A received PUBLISH; ``mid`` is what :meth:`Connection.ack` takes (0 at QoS 0)."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    retain: bool
