"""MQTT for Trygg: a sans-I/O codec (:mod:`.codec`) and one asyncio connection
(:mod:`.connection`), used through the :class:`~trygg.mqtt.session.MqttSession` Protocol."""

from trygg.mqtt.connection import Connection
from trygg.mqtt.model import (
    Incoming,
    MqttError,
    MqttSettings,
    PublishRefusedError,
    Will,
    parse_nodes,
)
from trygg.mqtt.session import MqttSession

__all__ = [
    "Connection",
    "Incoming",
    "MqttError",
    "MqttSession",
    "MqttSettings",
    "PublishRefusedError",
    "Will",
    "parse_nodes",
]
