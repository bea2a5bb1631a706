"""The line protocol's numbers as the real InfluxDB reads them: a message of numbers is
formatted by msgspec (shortest round-trip text, "1e16" rather than repr's "1e+16"), and
InfluxDB 1.6 must read back the very same doubles and integers."""

from __future__ import annotations

import json
import math
import random
import struct

import httpx
import pytest

from hub import contract_mirror as mirror
from hub.lineproto import reading_lines
from trygg import contract as c
from trygg.stack import LocalStack

pytestmark = pytest.mark.integration

T0 = 1_790_000_000_000


def _doubles(n: int) -> list[float]:
    rnd = random.Random(20261201)
    edges = [0.0, 1e16, 1e-5, 0.1, 5e-324, 1.7976931348623157e308, -2.2250738585072014e-308]
    out = edges + [rnd.uniform(-1e6, 1e6) for _ in range(n)]
    while len(out) < 2 * n:  # every exponent, not just the uniform range
        x = struct.unpack("<d", struct.pack("<Q", rnd.getrandbits(64)))[0]
        if math.isfinite(x):
            out.append(x)
    return out


async def test_numbers_read_back_exactly(stack: LocalStack, unique: str) -> None:
    floats = _doubles(2000)
    ints = [0, 1, -1, 2**63 - 1, -(2**63), *random.Random(1).sample(range(-(10**15), 10**15), 50)]

    def reading(i: int, field: str, v: float) -> mirror.Reading:
        return mirror.Reading(
            asset="a", kind=c.AssetKind.DEVICE, sensor="s", field=field, t=T0 + i, v=v
        )

    lines = []
    for start in range(0, len(floats), 20):  # messages of 20: the formatted-at-once path
        batch = [reading(i, "cpuLoad", floats[i]) for i in range(start, start + 20)]
        lines += reading_lines(device="d", site="s", readings=batch)
    lines += reading_lines(
        device="d",
        site="s",
        readings=[reading(i, "outboxDepth", v) for i, v in enumerate(ints)],
    )
    assert lines[0].endswith(f"cpuLoad=0.0 {T0}")
    db = f"lp_{unique}"
    async with httpx.AsyncClient(base_url=stack.influx_url, timeout=30) as influx:
        await influx.post("/query", data={"q": f'CREATE DATABASE "{db}"'})
        resp = await influx.post(
            "/write", params={"db": db, "precision": "ms"}, content="\n".join(lines).encode()
        )
        assert resp.status_code == 204, resp.text

        async def read(field: str) -> list[object]:
            r = await influx.get(
                "/query",
                params={"db": db, "q": f'SELECT "{field}" FROM "device"', "epoch": "ms"},
            )
            rows = json.loads(r.text)["results"][0]["series"][0]["values"]
            return [v for _t, v in sorted(rows) if v is not None]

        got_floats = await read("cpuLoad")
        got_ints = await read("outboxDepth")
        await influx.post("/query", data={"q": f'DROP DATABASE "{db}"'})
    # -0.0 is stored, but InfluxDB's JSON writes it as 0: compare magnitudes' bits there
    assert [struct.pack("<d", float(g)) for g in got_floats] == [  # type: ignore[arg-type]
        struct.pack("<d", abs(f) if f == 0 else f) for f in floats
    ]
    assert got_ints == ints
