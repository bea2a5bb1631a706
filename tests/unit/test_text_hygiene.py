"""Text hygiene on the wire: arbitrary Unicode through every free-text field (and an
unknown key) of every inbound message kind, through the ingest's classifier and into the
SQL store, on SQLite and PostgreSQL. Control characters are refused with the field named;
everything else round-trips unchanged; nothing raises."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub import contract_mirror as mirror
from hub.db import Asset, DeadLetter, open_database
from hub.devices import register
from hub.ingest_batch import Classifier, Draft
from hub.ingest_store import BatchWrite, IngestStore
from hub.sequences import Sequences
from tests.rules.scenario import Pole
from trygg import contract as c
from trygg import text
from trygg.clock import to_ms

NOW = datetime(2026, 12, 15, 17, 0, tzinfo=UTC)
POLE = Pole("pole-1", lamps=1)
# Any Unicode, with the characters that matter drawn often.
TEXT = st.one_of(
    st.text(max_size=40),
    st.text(st.sampled_from("a\x00\x01\t\n\r\x1b\x7f\x85\u2028é😀\\\"'<&"), max_size=12),
    st.sampled_from(["\ud800", "a\udfff", "\x00", "ok"]),
)


@pytest.mark.parametrize(
    ("value", "line", "multiline"),
    [
        ("Solnavägen 1", None, None),
        ("a\x00b", "control character U+0000 at position 1 is not allowed", "same"),
        ("tab\there", "control character U+0009 at position 3 is not allowed", None),
        ("two\r\nlines", "control character U+000D at position 3 is not allowed", None),
        ("del\x7f", "control character U+007F at position 3 is not allowed", "same"),
        ("esc\x1b[2J", "control character U+001B at position 3 is not allowed", "same"),
        ("lone\ud800", "surrogate U+D800 at position 4 is not allowed", "same"),
        ("\x85 and \u2028 are not C0", None, None),
    ],
)
def test_the_rule(value: str, line: str | None, multiline: str | None) -> None:
    assert text.refusal(value) == line
    assert text.refusal(value, multiline=True) == (line if multiline == "same" else None)
    escaped = text.escape(value)
    assert text.is_clean(escaped)
    assert escaped == value.replace("\\", "\\\\") if line is None else escaped != value


def test_escape_is_unambiguous() -> None:
    assert text.escape("a\x00") != text.escape("a\\u0000")
    assert text.escape("a\\u0000") == "a\\\\u0000"


# ---- every free-text field of every inbound message --------------------------------------
def _doc(message: c.Birth | c.Data | c.Events | c.CommandResult | c.State) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(c.encode(message))
    return out


def _birth_field(path: str) -> Callable[[str], dict[str, Any]]:
    def build(value: str) -> dict[str, Any]:
        doc = _doc(POLE.birth(NOW))
        if path == "firmware":
            doc["firmware"] = value
        elif path == "address":
            doc["assets"][0]["address"] = value
        else:
            doc["assets"][0]["properties"]["note"] = value
        return doc

    return build


def _reading_value(value: str) -> dict[str, Any]:
    doc = _doc(POLE.lamps_data(NOW, [True]))
    doc["readings"][0]["v"] = value  # powerState: a text field
    return doc


def _cmdres(field: str) -> Callable[[str], dict[str, Any]]:
    def build(value: str) -> dict[str, Any]:
        result = c.CommandResult(device=POLE.device, id="c1", ok=False, ts=to_ms(NOW))
        return {**_doc(result), field: value}

    return build


# (kind, field path as the dead letter names it, multi-line allowed, builder)
FIELDS: list[tuple[c.Kind, str, bool, Callable[[str], dict[str, Any]]]] = [
    (c.Kind.BIRTH, "firmware", False, _birth_field("firmware")),
    (c.Kind.BIRTH, "assets.0.address", False, _birth_field("address")),
    (c.Kind.BIRTH, "assets.0.properties.note", False, _birth_field("note")),
    (c.Kind.DATA, "readings.0.v", False, _reading_value),
    (c.Kind.CMD_RESULT, "id", False, _cmdres("id")),
    (c.Kind.CMD_RESULT, "message", True, _cmdres("message")),
]
BASES: dict[c.Kind, Callable[[], dict[str, Any]]] = {
    c.Kind.BIRTH: lambda: _doc(POLE.birth(NOW)),
    c.Kind.STATE: lambda: _doc(POLE.state(NOW, online=True)),
    c.Kind.DATA: lambda: _doc(POLE.lamps_data(NOW, [True])),
    c.Kind.EVENT: lambda: _doc(POLE.event(NOW, POLE.bin, c.AssetKind.BIN, "tilt", active=True)),
    c.Kind.CMD_RESULT: lambda: _doc(
        c.CommandResult(device=POLE.device, id="c1", ok=True, ts=to_ms(NOW))
    ),
}


@pytest.fixture
def sessions(sql_url: str) -> Iterator[sessionmaker[Session]]:
    made = open_database(sql_url)
    register(made, [(POLE.device, "solna-centrum")])
    yield made
    made.kw["bind"].dispose()


def _classify(kind: c.Kind, doc: dict[str, Any], ensure_ascii: bool) -> Draft:
    sequences = Sequences()
    sequences.load([POLE.device], {})
    classifier = Classifier(sequences=sequences)
    batch = Draft(received_ms=to_ms(NOW))
    raw = json.dumps(doc, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
    classifier.one(batch, c.topic_for(POLE.device, kind), raw)
    return batch


def _store(sessions: sessionmaker[Session], batch: Draft) -> None:
    store = IngestStore(sessions, dead_letter_max=1000)
    store.write(BatchWrite(births=batch.births, devices={}, rejected=batch.rejected, counters={}))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(field=st.sampled_from(FIELDS), value=TEXT, ensure_ascii=st.booleans())
def test_any_text_in_any_field_is_refused_by_name_or_kept_unchanged(
    sessions: sessionmaker[Session],
    field: tuple[c.Kind, str, bool, Callable[[str], dict[str, Any]]],
    value: str,
    ensure_ascii: bool,
) -> None:
    kind, path, multiline, build = field
    batch = _classify(kind, build(value), ensure_ascii)
    _store(sessions, batch)  # whatever came of it, SQL takes it
    if not text.is_clean(value, multiline=multiline):
        (rejected,) = batch.rejected
        if rejected.reason == "schema":
            assert rejected.detail.startswith(f"{path}: "), rejected.detail
            assert "not allowed" in rejected.detail or "unicode" in rejected.detail
        else:  # a lone surrogate is not even valid JSON text
            assert rejected.reason == "malformed"
            assert not text.is_clean(value)
        assert text.is_clean(rejected.detail)
        assert batch.births == []
        assert batch.lines == []
        assert batch.stored == []
        return
    assert batch.rejected == []
    if kind is c.Kind.BIRTH:
        (birth,) = batch.births
        asset = birth.assets[0]
        got = {"firmware": birth.firmware, "assets.0.address": asset.address}.get(
            path, asset.properties.get("note")
        )
        assert got == value
        with sessions() as s:
            row = s.get(Asset, asset.id)
            assert row is not None
            assert (row.address, row.properties) == (asset.address, dict(asset.properties))
    elif kind is c.Kind.DATA:
        (message,) = batch.stored
        assert isinstance(message, mirror.Data)
        assert message.readings[0].v == value
        assert len(batch.lines) == len(message.readings)
    else:
        got = c.decode(c.Kind.CMD_RESULT, json.dumps(build(value)).encode())
        assert getattr(got, path) == value


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(kind=st.sampled_from(sorted(BASES)), key=TEXT, ensure_ascii=st.booleans())
def test_an_unknown_key_is_refused_and_stored_escaped(
    sessions: sessionmaker[Session], kind: c.Kind, key: str, ensure_ascii: bool
) -> None:
    doc = BASES[kind]()
    if key in doc:
        return
    batch = _classify(kind, {**doc, key: 1}, ensure_ascii)
    _store(sessions, batch)
    (rejected,) = batch.rejected
    assert rejected.reason in ("schema", "malformed")
    assert text.is_clean(rejected.detail)
    if rejected.reason == "schema":
        assert text.escape(key)[:300] in rejected.detail
    with sessions() as s:
        details = s.scalars(select(DeadLetter.detail)).all()
    assert rejected.detail in details
