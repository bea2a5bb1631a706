"""The wire contract: topics, encoding, limits, device/topic binding, exported schema."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.shared_data import PROJECT_ROOT
from trygg import contract as c

T0 = 1_795_568_400_000


def _data(seq: int = 1, n: int = 2, device: str = "pole-0001") -> c.Data:
    readings = [
        c.Reading(
            asset="lamp-1",
            kind=c.AssetKind.STREETLIGHT,
            sensor="ina219",
            field="intensity",
            t=T0 + i,
            v=0.25,
        )
        for i in range(n)
    ]
    return c.Data(device=device, site="solna", boot=1, seq=seq, readings=readings)


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("trygg/v1/dev/pole-0001/data", ("pole-0001", c.Kind.DATA)),
        ("trygg/v1/dev/bin-7/event", ("bin-7", c.Kind.EVENT)),
        ("trygg/v1/dev/pole-0001/birth", ("pole-0001", c.Kind.BIRTH)),
    ],
)
def test_parse_topic(topic: str, expected: tuple[str, c.Kind]) -> None:
    assert c.parse_topic(topic) == expected
    assert c.topic_for(*expected) == topic


@pytest.mark.parametrize(
    "topic",
    [
        "trygg/v2/dev/pole-0001/data",
        "trygg/v1/dev/pole-0001",
        "trygg/v1/dev/POLE/data",
        "trygg/v1/dev/pole-0001/nonsense",
        "other/v1/dev/pole-0001/data",
        "trygg/v1/hub/state",
        "trygg/v1/dev/pole-0001/data/extra",
        "trygg/v1/dev/pole-0001\n/data",  # "$" of the id pattern also matches before "\n"
    ],
)
def test_bad_topics_are_refused(topic: str) -> None:
    with pytest.raises(c.ContractError) as err:
        c.parse_topic(topic)
    assert err.value.reason == "topic"


def test_a_device_id_with_a_trailing_newline_gets_no_topic() -> None:
    with pytest.raises(c.ContractError, match="invalid device id"):
        c.topic_for("pole-0001\n", c.Kind.DATA)


def test_encoding_round_trips_and_is_deterministic() -> None:
    msg = _data()
    raw = c.encode(msg)
    assert c.encode(c.decode(c.Kind.DATA, raw)) == raw  # a replay is byte-identical
    assert c.decode_device_message("trygg/v1/dev/pole-0001/data", raw)[2] == msg


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "malformed"),
        (b'{"v": 1, "device": "pole-0001"}', "schema"),
        (b"x" * (c.MAX_PAYLOAD_BYTES + 1), "oversized"),
    ],
)
def test_bad_payloads_name_their_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(c.ContractError) as err:
        c.decode_device_message("trygg/v1/dev/pole-0001/data", payload)
    assert err.value.reason == reason


def test_payload_device_must_match_topic() -> None:
    raw = c.encode(_data(device="pole-0002"))
    with pytest.raises(c.ContractError) as err:
        c.decode_device_message("trygg/v1/dev/pole-0001/data", raw)
    assert err.value.reason == "device_mismatch"


def test_hub_to_device_kinds_are_not_accepted_from_devices() -> None:
    ack = c.encode(c.Ack(device="pole-0001", seq=3, ts=T0))
    with pytest.raises(c.ContractError) as err:
        c.decode_device_message("trygg/v1/dev/pole-0001/ack", ack)
    assert err.value.reason == "topic"


def test_times_are_epoch_milliseconds_in_range() -> None:
    with pytest.raises(ValueError, match="greater than or equal"):
        c.Reading(
            asset="a",
            kind=c.AssetKind.BIN,
            sensor="s",
            field="fillingLevel",
            t=1_700_000_000,
            v=0.5,
        )  # seconds, not milliseconds


def test_encode_refuses_oversized_messages() -> None:
    big = _data(n=c.MAX_READINGS_PER_MESSAGE)
    events = [
        c.EventItem(
            asset="a",
            kind=c.AssetKind.CAMERA,
            type="graffiti",
            t=T0,
            values={f"k{i:02d}" + "x" * 60: 1.0 for i in range(32)},
        )
    ] * c.MAX_EVENTS_PER_MESSAGE
    assert len(c.encode(big)) <= c.MAX_PAYLOAD_BYTES
    msg = c.Events(device="pole-0001", site="s" * 60, boot=1, seq=1, events=events)
    with pytest.raises(c.ContractError) as err:
        c.encode(msg)
    assert err.value.reason == "oversized"


def test_every_field_states_its_unit() -> None:
    assert c.FIELDS
    for name, spec in c.FIELDS.items():
        assert spec.unit.value, name
        assert spec.description, name


def test_exported_schema_is_committed_and_current() -> None:
    committed = json.loads((PROJECT_ROOT / "docs" / "contract.schema.json").read_text())
    assert committed == json.loads(json.dumps(c.json_schema())), (
        "docs/contract.schema.json is stale: run `make contract`"
    )
    assert set(committed["$defs"]) >= {"Birth", "State", "Data", "Events", "Command", "Ack"}
    assert committed["$defs"]["Data"]["x-topic"] == "trygg/v1/dev/{device}/data"


PURE_MODULES = [
    "trygg.contract",
    "trygg.clock",
    "trygg.sun",
    "edge.sampler",
    "hub.dedup",
    "hub.lineproto",
    "hub.contract_mirror",
    "trygg.text",
    "hub.asset_owners",
    "hub.rules.lamp",
    "hub.rules.actions",
    "hub.rules.crowd",
    "hub.alerts.model",
    "hub.alerts.lifecycle",
    "hub.alerts.schedule",
]
IO_MODULES = ["asyncio", "paho", "sqlalchemy", "httpx", "onnxruntime", "cv2", "sqlite3", "fastapi"]


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_modules_import_no_io_library(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        f"bad = [m for m in {IO_MODULES!r} if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
    ).stdout.strip()
    assert out == "", f"{module} pulls in I/O libraries: {out}"


@settings(max_examples=300, deadline=None)
@given(
    device=st.one_of(st.from_regex(c.DEVICE_ID_PATTERN, fullmatch=True), st.text(max_size=70)),
    seq=st.one_of(st.integers(min_value=-3, max_value=2**64), st.booleans()),
    ts=st.one_of(
        st.integers(min_value=c.EPOCH_MS_MIN - 2, max_value=c.EPOCH_MS_MAX + 2),
        st.integers(),
        st.booleans(),
    ),
)
def test_encode_ack_is_byte_for_byte_the_models_encoding(device: str, seq: int, ts: int) -> None:
    # The hub's fast Ack encoder must send exactly what the model would, and refuse (with
    # the model's own error) whatever the model refuses.
    def outcome(encode: Callable[[], bytes]) -> bytes | list[Any]:
        try:
            return encode()
        except ValidationError as exc:
            return exc.errors()

    expected = outcome(lambda: c.encode(c.Ack(device=device, seq=seq, ts=ts)))
    assert outcome(lambda: c.encode_ack(device=device, seq=seq, ts=ts)) == expected


def test_encode_ack_edges() -> None:
    for seq, ts in ((0, c.EPOCH_MS_MIN), (2**63, c.EPOCH_MS_MAX), (17, T0)):
        expected = c.encode(c.Ack(device="pole-0001", seq=seq, ts=ts))
        assert c.encode_ack(device="pole-0001", seq=seq, ts=ts) == expected
        assert json.loads(expected) == {"v": 1, "device": "pole-0001", "seq": seq, "ts": ts}
    for device in ("pole-0001\n", "Pole-0001", "p", "pole 1", 'pole"1'):
        with pytest.raises(ValidationError):
            c.encode_ack(device=device, seq=1, ts=T0)


_CSR = "-----BEGIN CERTIFICATE REQUEST-----\nTUlJQg==\n-----END CERTIFICATE REQUEST-----\n"
_CRT = "-----BEGIN CERTIFICATE-----\nTUlJQg==\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize(
    ("csr", "reason"),
    [
        (_CSR, None),
        ("rm -rf /", "schema"),
        (_CSR.replace("TUlJQg==", "TUlJ Qg=="), "schema"),  # a space: not base64
        (_CSR + "trailing", "schema"),
        (_CRT, "schema"),  # a certificate, not a request
        (_CSR.replace("TUlJQg==", "A" * 5000), "schema"),  # oversized
    ],
)
def test_certificate_requests_carry_pem_and_nothing_else(csr: str, reason: str | None) -> None:
    raw = json.dumps(
        {"device": "pole-0001", "id": "r-1", "csr": csr, "ts": 1_800_000_000_000}
    ).encode()
    topic = c.topic_for("pole-0001", c.Kind.CSR)
    if reason is None:
        _, kind, message = c.decode_device_message(topic, raw)
        assert (kind, message.csr) == (c.Kind.CSR, csr)
    else:
        with pytest.raises(c.ContractError) as err:
            c.decode_device_message(topic, raw)
        assert err.value.reason == reason


def test_certificate_replies_travel_hub_to_device_only() -> None:
    reply = c.CertReply(
        device="pole-0001", id="r-1", ok=True, chain=_CRT + _CRT, ts=1_800_000_000_000
    )
    assert c.decode(c.Kind.CERT, c.encode(reply)) == reply
    assert c.Kind.CERT not in c.DEVICE_TO_HUB
    assert c.Kind.CSR in c.DEVICE_TO_HUB
    with pytest.raises(c.ContractError):
        c.decode_device_message(c.topic_for("pole-0001", c.Kind.CERT), c.encode(reply))
