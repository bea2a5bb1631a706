"""Decoding a read buffer of PUBLISH packets: trygg.mqtt.codec against the ``mqtt5`` package.

Both turn the same 256 KiB-sized buffers of QoS 1 readings (the hub's bulk traffic) into
:class:`trygg.mqtt.Incoming` records, the form the connection hands on. ``mqtt5`` is
measured only when installed (``pip install mqtt5``); it is not a dependency.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trygg.mqtt import Incoming, codec

PAYLOAD = b'{"v":1,"ts":1733400000000,"seq":12345,"m":{"temp_c":4.25,"fill":0.61}}'


def _buffer(count: int) -> bytes:
    return b"".join(
        codec.publish(f"trygg/v1/solna/dev-{i % 1000:04d}/data", PAYLOAD, qos=1, mid=i % 65535 + 1)
        for i in range(count)
    )


def _ours(data: bytes) -> int:
    return len(codec.Decoder().feed(data))


def _mqtt5(data: bytes) -> int:
    mqtt5: Any = importlib.import_module("mqtt5")  # optional: measured only when installed
    read, view, pos = mqtt5.read, memoryview(data), 0
    out: list[Incoming] = []
    append = out.append
    while pos < len(data):
        packet, size = read(view[pos:])
        pos += size
        append(
            Incoming(
                packet.topic, packet.payload, int(packet.qos), packet.packet_id or 0, packet.retain
            )
        )
    return len(out)


def _rate(decode: Callable[[bytes], int], data: bytes, count: int, rounds: int = 7) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        assert decode(data) == count
        best = min(best, time.perf_counter() - start)
    return count / best


def main() -> None:
    count = 3000  # about one 256 KiB read
    data = _buffer(count)
    result: dict[str, float | None] = {"trygg_codec_decodes_per_s": _rate(_ours, data, count)}
    try:
        result["mqtt5_decodes_per_s"] = _rate(_mqtt5, data, count)
    except ImportError:
        result["mqtt5_decodes_per_s"] = None
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "mqtt_codec.json").write_text(json.dumps(result, indent=2))
    theirs = result["mqtt5_decodes_per_s"]
    print(
        f"PUBLISH decodes/s into Incoming: trygg.mqtt.codec {result['trygg_codec_decodes_per_s']:,.0f}, "
        + (f"mqtt5 {theirs:,.0f}" if theirs else "mqtt5 not installed")
    )


if __name__ == "__main__":
    main()
