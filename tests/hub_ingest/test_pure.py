"""Table-driven tests of the ingest's pure parts: fused device state, the batch classifier,
line protocol encoding, and the spool's bound and durability across a reopen."""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub import contract_mirror as mirror
from hub.device_state import DeviceStates, DeviceStatus, Reason, parse_class_timeouts
from hub.ingest_batch import Classifier, Draft
from hub.lineproto import escape_measurement, escape_tag, field_value, reading_lines
from hub.sequences import Sequences
from hub.spool import Spool
from tests.purity import io_imported_by
from trygg import contract as c

S = 1000  # ms per second
T = 1_790_000_000_000  # a contract-valid message time


def _sequences(*known: str) -> Sequences:
    sequences = Sequences()
    sequences.load(known, {})
    return sequences


def _states(**kw: object) -> DeviceStates:
    states = DeviceStates(started_ms=0, grace_s=kw.pop("grace_s", 0.0), **kw)  # type: ignore[arg-type]
    states.on_birth(
        device="d1", boot=2, device_class="pole", heartbeat_s=60, firmware="f", now_ms=0
    )
    return states


def test_a_stale_death_of_an_earlier_boot_is_ignored() -> None:
    states = _states()
    assert states.on_state(device="d1", boot=1, online=False, now_ms=5 * S) is None
    assert states.get("d1").online is True
    t = states.on_state(device="d1", boot=2, online=False, now_ms=6 * S)
    assert t is not None
    assert (t.kind, t.status.reason) == ("offline", "will")


@pytest.mark.parametrize(
    ("silent_s", "grace_s", "classes", "offline"),
    [
        (149, 0, "", False),  # 2.5 x the announced 60 s heartbeat = 150 s
        (151, 0, "", True),
        (151, 120, "", False),  # a hub that just started gives a grace period
        (31, 0, "pole=30", True),  # the class's timeout wins over the announced heartbeat
    ],
)
def test_heartbeat_timeout_fires_on_the_tick(
    silent_s: int, grace_s: float, classes: str, offline: bool
) -> None:
    states = _states(grace_s=grace_s, class_timeouts_s=parse_class_timeouts(classes))
    transitions = states.tick(silent_s * S)
    assert bool(transitions) == offline
    if offline:
        assert transitions[0].status.reason == "heartbeat"
        # Heard from again: back online without a new birth.
        t = states.on_seen(device="d1", now_ms=(silent_s + 1) * S)
        assert t is not None
        assert (t.kind, t.status.reason) == ("online", "data")


def test_nobody_goes_offline_while_the_hubs_own_link_is_down() -> None:
    states = _states(grace_s=60)
    states.link(up=False, now_ms=100 * S)
    assert states.tick(1000 * S) == []  # long past the 150 s timeout, but the hub hears nobody
    states.link(up=True, now_ms=1000 * S)
    # Devices get the grace (their reconnect back-off) plus the timeout from the reconnect.
    assert states.tick((1000 + 60 + 150) * S) == []
    transitions = states.tick((1000 + 60 + 151) * S)
    assert [t.status.device for t in transitions] == ["d1"]


def test_most_of_the_fleet_silent_at_once_restarts_the_silence_clock() -> None:
    states = DeviceStates(started_ms=0, grace_s=0)
    for i in range(6):
        states.on_birth(
            device=f"d{i}", boot=1, device_class="pole", heartbeat_s=60, firmware="f", now_ms=0
        )
    # All six silent past 150 s: the hub's side (a stall, a backlog), not six faults.
    assert states.tick(200 * S) == []
    assert states.mass_silences == 1
    for i in range(5):  # five are heard from again, one is not
        states.on_seen(device=f"d{i}", now_ms=300 * S)
    assert states.tick((200 + 150) * S) == []  # the clock restarted at 200 s
    transitions = states.tick((200 + 151) * S)
    assert [t.status.device for t in transitions] == ["d5"]


def test_a_backlog_after_a_will_does_not_revive_the_device() -> None:
    states = _states()
    states.on_state(device="d1", boot=2, online=False, now_ms=S)
    assert states.on_seen(device="d1", now_ms=2 * S, boot=2) is None
    t = states.on_seen(device="d1", now_ms=3 * S, boot=3)  # a new boot is a new life
    assert t is not None
    assert t.kind == "online"


def test_a_batch_is_observed_births_then_states_then_what_was_heard() -> None:
    states = DeviceStates(started_ms=0, grace_s=0)
    birth = c.Birth(
        device="d1", site="s", boot=2, heartbeat_s=60, firmware="f", low=1, ts=T, assets=[]
    )
    stale = c.State(device="d1", boot=1, online=False, ts=T)  # a will of the earlier boot
    died = c.State(device="d2", boot=1, online=False, ts=T)
    states.devices["d2"] = DeviceStatus(device="d2", boot=1, online=True, reason="birth")
    states.devices["d3"] = DeviceStatus(device="d3", boot=1, online=False, reason="heartbeat")
    got = states.observe(
        births=[birth], states=[stale, died], seen={"d1": 2, "d3": 1}, now_ms=5 * S
    )
    assert [(t.status.device, t.kind, t.status.reason) for t in got] == [
        ("d1", "online", "birth"),
        ("d2", "offline", "will"),
        ("d3", "online", "data"),
    ]
    assert states.get("d1").last_seen_ms == 5 * S


def _on_seen_reference(
    old: DeviceStatus, now_ms: int, boot: int | None
) -> tuple[DeviceStatus, str | None]:
    """on_seen as first written, with dataclasses.replace (the fast path must equal it)."""
    new = replace(old, last_seen_ms=max(old.last_seen_ms or 0, now_ms))
    newer_boot = boot is not None and boot > old.boot
    if newer_boot:
        new = replace(new, boot=boot or old.boot)
    if old.online is not True and (old.reason in ("heartbeat", "unknown") or newer_boot):
        new = replace(new, online=True, reason="data", changed_ms=now_ms)
    changed = new.online is not None and new.online != old.online
    return new, ("online" if new.online else "offline") if changed else None


@settings(max_examples=400, deadline=None)
@given(
    online=st.sampled_from([None, True, False]),
    reason=st.sampled_from(["birth", "state", "will", "data", "heartbeat", "unknown"]),
    old_boot=st.integers(0, 3),
    last_seen=st.one_of(st.none(), st.integers(0, 10)),
    now=st.integers(0, 10),
    boot=st.one_of(st.none(), st.integers(0, 4)),
    known=st.booleans(),
)
def test_on_seen_is_what_it_was_with_dataclasses_replace(
    online: bool | None,
    reason: Reason,
    old_boot: int,
    last_seen: int | None,
    now: int,
    boot: int | None,
    known: bool,
) -> None:
    states = DeviceStates(started_ms=0, grace_s=0)
    old = DeviceStatus(
        device="d1", boot=old_boot, online=online, reason=reason, last_seen_ms=last_seen, gaps=2
    )
    if known:
        states.devices["d1"] = old
    else:
        old = DeviceStatus(device="d1")
    expected, kind = _on_seen_reference(old, now, boot)
    t = states.on_seen(device="d1", now_ms=now, boot=boot)
    assert states.get("d1") == expected
    assert (t.kind if t else None) == kind
    if t is not None:
        assert t.status == expected


def test_gaps_make_a_device_suspect_for_one_timeout() -> None:
    states = _states()
    states.on_gap(device="d1", now_ms=10 * S)
    assert states.suspect(states.get("d1"), 20 * S)
    assert not states.suspect(states.get("d1"), 200 * S)


@pytest.mark.parametrize("text", ["pole", "pole=0", "=5", "pole=x"])
def test_bad_class_timeouts_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"pole|could not convert|class"):
        parse_class_timeouts(text)


def _data(device: str, seq: int, field: str = "rssi", v: object = -50) -> bytes:
    reading = {
        "asset": "a",
        "kind": "device",
        "sensor": "m",
        "field": field,
        "t": 1_790_000_000_000 + seq,
        "v": v,
    }
    import json

    body = {"v": 1, "device": device, "site": "s", "boot": 1, "seq": seq, "readings": [reading]}
    return json.dumps(body).encode()


TOPIC = c.topic_for("d1", c.Kind.DATA)


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (TOPIC, b"{nope", "malformed"),
        (TOPIC, b"[" + b"0," * 140_000 + b"0]", "oversized"),
        (TOPIC, b'{"v":1}', "schema"),
        (TOPIC, _data("d1", 1, field="noSuchField"), "schema"),
        (TOPIC, _data("d1", 1, field="rssi", v="loud"), "schema"),
        (TOPIC, _data("d2", 1), "device_mismatch"),
        (c.topic_for("zz9", c.Kind.DATA), _data("zz9", 1), "unknown_device"),
        ("trygg/v1/dev/Bad.Id/data", _data("d1", 1), "topic"),
        (c.topic_for("d1", c.Kind.ACK), b"{}", "topic"),
    ],
)
def test_bad_messages_are_rejected_with_their_reason(
    topic: str, payload: bytes, reason: str
) -> None:
    classifier = Classifier(sequences=_sequences("d1", "d2"))
    batch = Draft(received_ms=0)
    classifier.one(batch, topic, payload)
    assert [r.reason for r in batch.rejected] == [reason]
    assert batch.lines == []
    assert dict(batch.delta.dead) == {reason: 1}


@pytest.mark.parametrize("dedup", [True, False])
def test_duplicates_in_flight_and_stored_are_dropped_only_with_dedup(dedup: bool) -> None:
    sequences = _sequences("d1")
    classifier = Classifier(sequences=sequences, dedup=dedup)
    first = Draft(received_ms=0)
    classifier.classify(first, [(TOPIC, _data("d1", 1), False), (TOPIC, _data("d1", 1), False)])
    sequences.advance(first.marks)
    second = Draft(received_ms=0)
    classifier.classify(second, [(TOPIC, _data("d1", 1), False), (TOPIC, _data("d1", 3), False)])
    gaps = sequences.advance(second.marks)
    if dedup:
        assert (first.delta.readings, first.delta.duplicates) == (1, 1)
        assert (second.delta.readings, second.delta.duplicates) == (1, 1)
    else:
        assert (first.delta.readings + second.delta.readings) == 4
    assert sequences.row("d1").watermark == 1
    assert sequences.row("d1").above == (3,)
    assert gaps == {"d1": 1}


def test_retained_births_of_unregistered_devices_are_counted_not_dead_lettered() -> None:
    classifier = Classifier(sequences=Sequences())
    batch = Draft(received_ms=0)
    classifier.one(batch, c.topic_for("zz9", c.Kind.STATE), b"{}", retained=True)
    assert batch.rejected == []
    assert batch.delta.ignored_retained == 1


def test_line_protocol_escapes_tags_and_types_fields() -> None:
    # The contract's name patterns keep such characters out; the encoder is safe anyway.
    readings = [
        c.Reading.model_construct(
            asset="lamp 1",
            kind=c.AssetKind.STREETLIGHT,
            sensor="a,b",
            field="powerState",
            t=1_790_000_000_000,
            v='on "x"',
        ),
        c.Reading.model_construct(
            asset="lamp 1",
            kind=c.AssetKind.STREETLIGHT,
            sensor="a,b",
            field="activePower",
            t=1_790_000_000_001,
            v=1,
        ),
        c.Reading.model_construct(
            asset="lamp 1",
            kind=c.AssetKind.STREETLIGHT,
            sensor="a,b",
            field="intensity",
            t=1_790_000_000_002,
            v=0.25,
        ),
    ]
    lines = reading_lines(device="d=1", site="solna c", readings=readings)
    prefix = r"streetlight,asset=lamp\ 1,device=d\=1,sensor=a\,b,site=solna\ c "
    assert lines == [
        prefix + r'powerState="on \"x\"" 1790000000000',
        prefix + "activePower=1.0 1790000000001",
        prefix + "intensity=0.25 1790000000002",
    ]


def _reference_line(device: str, site: str, r: mirror.Reading) -> str:
    """The encoding spelled out for one reading, without caches or fast paths."""
    return (
        f"{escape_measurement(str(r.kind))},asset={escape_tag(r.asset)},device="
        f"{escape_tag(device)},sensor={escape_tag(r.sensor)},site={escape_tag(site)} "
        f"{r.field}={field_value(r.field, r.v)} {r.t}"
    )


_I64 = st.integers(-(2**63), 2**63 - 1)
_GOOD = {  # one field of each type, with the values the contract allows for it
    "intensity": st.floats(allow_nan=False, allow_infinity=False) | _I64,
    "outboxDepth": _I64,
    "tilted": st.booleans(),
    "powerState": st.text(max_size=8),
}
_BAD = {  # values the encoder must refuse, and a field the contract does not know
    "intensity": st.sampled_from([math.nan, math.inf, -math.inf, "1", True]),
    "outboxDepth": st.sampled_from([1.0, "1", False]),
    "tilted": st.sampled_from([1, 0.0, "true"]),
    "powerState": st.sampled_from([1, 1.5, True]),
    "nope": st.just(1.0),
}
# Few values per name, so neighbouring readings often differ in one part of the series only.
_SERIES = st.tuples(
    st.sampled_from([c.AssetKind.STREETLIGHT, c.AssetKind.BIN]),
    st.sampled_from(["a1", "a 2"]),
    st.sampled_from(["s1", "s=2"]),
)


def _reading(series: tuple[c.AssetKind, str, str], field: str, v: object, t: int) -> mirror.Reading:
    kind, asset, sensor = series
    return mirror.Reading(asset=asset, kind=kind, sensor=sensor, field=field, t=t, v=v)  # type: ignore[arg-type]


@st.composite
def _readings(draw: st.DrawFn, table: Mapping[str, st.SearchStrategy[object]]) -> mirror.Reading:
    field = draw(st.sampled_from(sorted(table)))
    t = draw(st.integers(c.EPOCH_MS_MIN, c.EPOCH_MS_MAX))
    return _reading(draw(_SERIES), field, draw(table[field]), t)


_SITES = st.sampled_from(["s1", "s,2"])
_DEVICES = st.sampled_from(["d1", "d 2"])


@settings(max_examples=300, deadline=None)
@given(
    device=_DEVICES,
    site=_SITES,
    # runs of one series (what the encoder's shortcut is for), mixed with changes
    readings=st.lists(_readings(_GOOD), min_size=1, max_size=6).flatmap(
        lambda rs: st.lists(st.sampled_from(rs), min_size=1, max_size=30)
    ),
)
def test_line_protocol_is_the_reference_encoding_reading_by_reading(
    device: str, site: str, readings: list[mirror.Reading]
) -> None:
    got = reading_lines(device=device, site=site, readings=readings)
    want = [_reference_line(device, site, r) for r in readings]
    assert [_same_number(g, w) for g, w in zip(got, want, strict=True)] == got


def _same_number(got: str, want: str) -> str:
    """``want``, or ``got`` where only the float's text differs and it reads back as the
    same double (a message of numbers is formatted by msgspec, not ``repr``: "1e16" for
    "1e+16", "5" for "5.0"; InfluxDB reads both alike: test_lineproto_influx.py)."""
    if got == want:
        return got
    head, _, t = got.rpartition(" ")
    series, _, text = head.rpartition("=")
    w_head, _, w_t = want.rpartition(" ")
    w_series, _, w_text = w_head.rpartition("=")
    same = (series, t) == (w_series, w_t) and not text.endswith("i")
    return (
        got if same and struct.pack("<d", float(text)) == struct.pack("<d", float(w_text)) else want
    )


@settings(max_examples=200, deadline=None)
@given(
    device=_DEVICES,
    site=_SITES,
    good=st.lists(_readings(_GOOD), max_size=10),
    bad=_readings(_BAD),
    at=st.integers(0, 10),
)
def test_line_protocol_refuses_what_the_reference_refuses(
    device: str, site: str, good: list[mirror.Reading], bad: mirror.Reading, at: int
) -> None:
    readings = [*good[:at], bad, *good[at:]]
    with pytest.raises(c.ContractError) as expected:
        _reference_line(device, site, bad)
    with pytest.raises(c.ContractError) as got:
        reading_lines(device=device, site=site, readings=readings)
    assert (got.value.reason, got.value.detail) == (expected.value.reason, expected.value.detail)


def test_spool_is_bounded_and_survives_a_reopen(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10)
    assert spool.put(b"abcdef", created_ms=1)
    assert not spool.put(b"ghijkl", created_ms=2)  # would exceed the bound: refused, not dropped
    (tmp_path / "000000000009-3.tmp").write_bytes(b"half written")
    again = Spool(tmp_path, max_bytes=10)
    assert len(again) == 1
    assert again.oldest_ms() == 1
    head = again.peek()
    assert head is not None
    assert head[1] == b"abcdef"
    again.remove(head[0])
    assert again.peek() is None
    assert again.size_bytes == 0
    assert again.put(b"ghijkl", created_ms=2)
    assert not list(tmp_path.glob("*.tmp"))


def test_pure_modules_import_no_io() -> None:
    # The ingest's decoding pulls in the standard library's socket; no client library.
    io = ("asyncio", "paho", "sqlalchemy", "httpx")
    pure = ("hub.device_state", "hub.ingest_batch", "hub.dedup", "hub.sequences", "hub.lineproto")
    assert io_imported_by(*pure, io=io) == []
