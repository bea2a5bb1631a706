"""Which payload encoding for the wire contract: JSON or a binary one, by measurement.

A data message of 20 readings (the realistic batch) is encoded and decoded with validation:
JSON through pydantic's Rust core (what the contract does), and MessagePack / CBOR of the
same dict followed by the same pydantic validation (a binary contract would need it too).
Single thread; run with ``python -m bench.encoding``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbor2
import msgpack

from trygg import contract as c

N = 20_000


def _message() -> c.Data:
    readings = [
        c.Reading(
            asset=f"lamp-{i % 4}",
            kind=c.AssetKind.STREETLIGHT,
            sensor="ina219",
            field=("intensity", "activePower", "powerState", "illuminance")[i % 4],
            t=1_795_568_400_000 + i,
            v=("on" if i % 4 == 2 else 0.2345 + i),
        )
        for i in range(20)
    ]
    return c.Data(device="pole-0001", site="solna-centrum", boot=3, seq=123_456, readings=readings)


def _time(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    for _ in range(N):
        fn()
    return (time.perf_counter() - start) / N * 1e6


def main() -> None:
    msg = _message()
    as_dict = msg.model_dump(mode="json")
    raw_json = c.encode(msg)
    raw_msgpack = msgpack.packb(as_dict)
    raw_cbor = cbor2.dumps(as_dict)
    result = {
        "readings_per_message": 20,
        "json": {
            "bytes": len(raw_json),
            "encode_us": _time(lambda: c.encode(msg)),
            "decode_validate_us": _time(lambda: c.decode(c.Kind.DATA, raw_json)),
        },
        "msgpack": {
            "bytes": len(raw_msgpack),
            "encode_us": _time(lambda: msgpack.packb(msg.model_dump(mode="json"))),
            "decode_validate_us": _time(
                lambda: c.Data.model_validate(msgpack.unpackb(raw_msgpack))
            ),
        },
        "cbor": {
            "bytes": len(raw_cbor),
            "encode_us": _time(lambda: cbor2.dumps(msg.model_dump(mode="json"))),
            "decode_validate_us": _time(lambda: c.Data.model_validate(cbor2.loads(raw_cbor))),
        },
    }
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "encoding.json").write_text(json.dumps(result, indent=2))
    parts = [
        f"{name}: {r['bytes']} B, enc {r['encode_us']:.1f} us, dec+validate "
        f"{r['decode_validate_us']:.1f} us"
        for name, r in result.items()
        if isinstance(r, dict)
    ]
    print("encoding (20 readings/message) | " + " | ".join(parts))


if __name__ == "__main__":
    main()
