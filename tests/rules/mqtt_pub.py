"""Publish contract messages the way a device does, with paho directly (QoS 1, PUBACK)."""

from __future__ import annotations

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from trygg import contract as c


class DevicePublisher:
    def __init__(self, *, port: int, client_id: str) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def send(self, message: c.Birth | c.State | c.Data | c.Events) -> None:
        kind = {
            c.Birth: c.Kind.BIRTH,
            c.State: c.Kind.STATE,
            c.Data: c.Kind.DATA,
            c.Events: c.Kind.EVENT,
        }[type(message)]
        # Not retained (unlike a real device): the test broker is shared, and other tests'
        # hubs must not receive this test's devices.
        info = self.client.publish(c.topic_for(message.device, kind), c.encode(message), qos=1)
        info.wait_for_publish(timeout=10)
        if not info.is_published():
            raise RuntimeError(f"publish of {kind.value} not acknowledged by the broker")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
