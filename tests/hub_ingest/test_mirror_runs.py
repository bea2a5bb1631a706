"""The mirror checks a reading's names only when they differ from the reading before's: a
bad name anywhere in a run of one series is still refused, as the contract refuses it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub import contract_mirror as mirror
from trygg import contract as c

T0 = 1_790_000_000_000
_BAD = ["", "-a", "a b", "a\n", "é", "a" * 65]


def _reading(i: int, **names: str) -> dict[str, object]:
    reading: dict[str, object] = {
        "asset": "a1",
        "kind": "device",
        "sensor": "pi",
        "field": "cpuLoad",
        "t": T0 + i,
        "v": 0.5,
    }
    reading.update(names)
    return reading


def _payload(readings: list[dict[str, object]]) -> bytes:
    body = {"v": 1, "device": "pole-1", "site": "s", "boot": 1, "seq": 1, "readings": readings}
    return json.dumps(body).encode()


@settings(max_examples=200, deadline=None)
@given(
    before=st.integers(1, 10),
    after=st.integers(0, 10),
    name=st.sampled_from(["asset", "sensor", "field"]),
    bad=st.sampled_from(_BAD),
)
def test_a_bad_name_inside_a_run_of_one_series_is_refused(
    before: int, after: int, name: str, bad: str
) -> None:
    readings = [_reading(i) for i in range(before)]
    readings.append(_reading(before, **{name: bad}))
    readings += [_reading(before + 1 + i) for i in range(after)]
    payload = _payload(readings)
    assert mirror.mirror_data(payload) is None
    with pytest.raises(c.ContractError) as mirrored:
        mirror.decode_data(payload)
    with pytest.raises(c.ContractError) as contract:
        c.decode(c.Kind.DATA, payload)
    assert mirrored.value.reason == contract.value.reason == "schema"


def test_a_run_of_one_series_is_accepted_with_its_values() -> None:
    payload = _payload([_reading(i) for i in range(20)])
    message = mirror.mirror_data(payload)
    assert message is not None
    assert [r.t for r in message.readings] == [T0 + i for i in range(20)]
