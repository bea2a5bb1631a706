"""Several broker nodes: the list's syntax (pure), and a connection that reaches the second
node of a real Mosquitto when the first is down, from the hub's settings."""

from __future__ import annotations

import pytest

from hub.settings import HubSettings
from trygg.mqtt import Connection, MqttError, MqttSettings, parse_nodes
from trygg.stack import LocalStack, free_port


@pytest.mark.parametrize(
    ("text", "nodes"),
    [
        ("", ()),
        ("a", (("a", 1883),)),
        ("a:1884, b ,c:8883", (("a", 1884), ("b", 1883), ("c", 8883))),
        ("[::1]:1885,[fe80::1]", (("::1", 1885), ("fe80::1", 1883))),
        ("emqx-1.mqtt.svc:1883,", (("emqx-1.mqtt.svc", 1883),)),
    ],
)
def test_nodes_parse(text: str, nodes: tuple[tuple[str, int], ...]) -> None:
    assert parse_nodes(text) == nodes


@pytest.mark.parametrize("text", ["a:0", "a:65536", "a:x", ":1883", "[::1", "[::1]x", "a b:1"])
def test_bad_nodes_are_refused_with_the_entry(text: str) -> None:
    with pytest.raises(ValueError, match="broker node"):
        parse_nodes(text)


def test_hub_settings_refuse_a_bad_node_and_pass_good_ones_on() -> None:
    with pytest.raises(ValueError, match="broker node"):
        HubSettings(mqtt_fallbacks="b:99999")
    s = HubSettings(mqtt_host="a", mqtt_port=1884, mqtt_fallbacks="b,c:1999")
    assert s.broker().nodes == (("a", 1884), ("b", 1884), ("c", 1999))


@pytest.mark.integration
async def test_a_connection_reaches_the_next_node_when_the_first_is_down(
    stack: LocalStack, unique: str
) -> None:
    down = free_port()
    settings = HubSettings(
        mqtt_port=down, mqtt_fallbacks=f"127.0.0.1:{stack.ports.mqtt}", client_id=f"n-{unique}"
    ).broker()
    async with Connection(settings) as conn:
        assert conn.node == f"127.0.0.1:{stack.ports.mqtt}"
        await conn.subscribe(f"t/{unique}")
        assert await conn.publish(f"t/{unique}", b"x") == 0


@pytest.mark.integration
async def test_no_node_answering_names_every_node() -> None:
    a, b = free_port(), free_port()
    settings = MqttSettings(host="127.0.0.1", port=a, client_id="x", fallbacks=(("127.0.0.1", b),))
    with pytest.raises(MqttError, match=f"127.0.0.1:{a}, 127.0.0.1:{b}"):
        async with Connection(settings):
            pass
