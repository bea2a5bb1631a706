"""The hub's compiled mirror of ``data``/``event`` (hub.contract_mirror) against the contract.

The pydantic models are the truth; the mirror may only accept a subset of what they accept,
with the same values of the same types, and whatever it refuses must end with the contract's
own error. Checked three ways: both definitions' JSON Schemas list the same fields and
constraints; every patterned name field, as read from the mirror's annotations, refuses a
bad name; and generated payloads (valid, lax, mutated, malformed) decode alike.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from hub import contract_mirror as mirror
from trygg import contract as c

PAIRS = [(c.Data, mirror.Data), (c.Events, mirror.Events)]
STRUCTS: dict[c.Kind, type[msgspec.Struct]] = {
    c.Kind.DATA: mirror.Data,
    c.Kind.EVENT: mirror.Events,
}
KINDS = {
    c.Kind.DATA: (mirror.mirror_data, mirror.decode_data),
    c.Kind.EVENT: (
        mirror.mirror_events,
        mirror.decode_events,
    ),
}


# ---- the same fields and constraints ---------------------------------------------------
def _normal(node: Any, defs: dict[str, Any]) -> Any:
    """A JSON Schema with refs resolved and the two generators' spelling differences
    removed (titles, descriptions, const vs enum, enum order, patternProperties, and the
    empty default of a ``default_factory``, which only msgspec writes: whether a field may
    be left out is in ``required``, and the generated payloads check the value)."""
    if isinstance(node, list):
        return [_normal(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _normal(defs[node["$ref"].rsplit("/", 1)[1]], defs)
    out = {k: v for k, v in node.items() if k not in {"title", "description"}}
    if out.get("default") in ({}, []):
        del out["default"]
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if "enum" in out:
        out.pop("type", None)
        out["enum"] = sorted(out["enum"], key=repr)
    if "patternProperties" in out:
        ((pattern, values),) = out.pop("patternProperties").items()
        out["propertyNames"] = {"pattern": pattern}
        out["additionalProperties"] = values
    if "required" in out:
        out["required"] = sorted(out["required"])
    return {k: _normal(v, defs) for k, v in out.items()}


def _pydantic_schema(model: type[BaseModel]) -> Any:
    schema = model.model_json_schema()
    return _normal(schema, schema.get("$defs", {}))


def _mirror_schema(struct: type[msgspec.Struct]) -> Any:
    schema = msgspec.json.schema(struct)
    return _normal(schema, schema["$defs"])


@pytest.mark.parametrize(("model", "struct"), PAIRS)
def test_the_mirror_lists_the_same_fields_and_constraints(
    model: type[BaseModel], struct: type[msgspec.Struct]
) -> None:
    ours, theirs = _mirror_schema(struct), _pydantic_schema(model)
    ours.pop("$defs", None)
    theirs.pop("$defs", None)
    assert ours == theirs


def _patterned(schema: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """(path, pattern) of every patterned string in a normalised schema; ``...`` in a path is
    a key of a dict."""
    found = []
    if "pattern" in schema:
        found.append((path, schema["pattern"]))
    for name, sub in schema.get("properties", {}).items():
        found += _patterned(sub, (*path, name))
    if "items" in schema:
        found += _patterned(schema["items"], (*path, 0))
    if "propertyNames" in schema:
        found.append(((*path, ...), schema["propertyNames"]["pattern"]))
    return found


T0 = 1_790_000_000_000
VALID: dict[c.Kind, dict[str, Any]] = {
    c.Kind.DATA: {
        "v": 1,
        "device": "pole-1",
        "site": "s",
        "boot": 1,
        "seq": 1,
        "readings": [
            {"asset": "a", "kind": "device", "sensor": "pi", "field": "cpuLoad", "t": T0, "v": 1}
        ],
    },
    c.Kind.EVENT: {
        "v": 1,
        "device": "pole-1",
        "site": "s",
        "boot": 1,
        "seq": 1,
        "events": [
            {"asset": "a", "kind": "camera", "type": "graffiti", "t": T0, "values": {"k": 1.0}}
        ],
    },
}
BAD_NAMES = ["", "-a", "_a", "a\n", "a b", "é", "a" * 65, "a/b", "A\u0301"]
GOOD_NAMES = ["a", "A.b_c-d", "9" * 64]
DEVICE_BAD = ["a", "A1", "a_b", "-ab", "ab\n", "a" * 64]


def _put(body: dict[str, Any], path: tuple[Any, ...], value: str) -> None:
    node: Any = body
    for step in path[:-1]:
        node = node[step]
    if path[-1] is ...:
        old = next(iter(node))
        node[value] = node.pop(old)
    else:
        node[path[-1]] = value


@pytest.mark.parametrize("kind", [c.Kind.DATA, c.Kind.EVENT])
def test_every_patterned_name_is_checked(kind: c.Kind) -> None:
    struct = STRUCTS[kind]
    places = _patterned(_mirror_schema(struct))
    assert len(places) >= 4
    accept, decode = KINDS[kind]
    for path, pattern in places:
        bad = DEVICE_BAD if pattern == c.DEVICE_ID_PATTERN else BAD_NAMES
        for name in [*bad, *GOOD_NAMES]:
            body = json.loads(json.dumps(VALID[kind]))
            _put(body, path, name)
            raw = json.dumps(body).encode()
            try:
                expected: Any = c.decode(kind, raw)
            except c.ContractError as exc:
                expected = exc.reason
            got = accept(raw)
            assert (got is None) == (expected == "schema"), (path, name)
            if got is None:
                with pytest.raises(c.ContractError) as err:
                    decode(raw)
                assert err.value.reason == expected


# ---- decoding alike ----------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """A value with its types spelled out (1, 1.0 and True are equal in Python)."""
    if isinstance(value, BaseModel):
        return {k: _plain(getattr(value, k)) for k in type(value).model_fields}
    if isinstance(value, msgspec.Struct):
        return {k: _plain(getattr(value, k)) for k in value.__struct_fields__}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, enum.Enum):
        return (type(value).__name__, value.value)
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


@dataclass(frozen=True)
class Raw:
    """JSON text written as is (NaN, 1e400, 5.0 where an int is expected, ...)."""

    text: str


@dataclass
class Obj:
    """A JSON object as key/value pairs, so a key can appear twice."""

    pairs: list[tuple[str, Any]]


def _dump(value: Any, *, ascii_only: bool) -> str:
    if isinstance(value, dict):
        value = _obj(value)
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Obj):
        inner = ",".join(
            f"{json.dumps(k, ensure_ascii=ascii_only)}:{_dump(v, ascii_only=ascii_only)}"
            for k, v in value.pairs
        )
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dump(v, ascii_only=ascii_only) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return json.dumps(value, ensure_ascii=ascii_only)


def _obj(value: Any) -> Any:
    if isinstance(value, dict):
        return Obj([(k, _obj(v)) for k, v in value.items()])
    if isinstance(value, list):
        return [_obj(v) for v in value]
    return value


NAME = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
DEVICE = st.from_regex(r"\A[a-z0-9][a-z0-9-]{1,62}\Z")
ODD_TEXT = st.one_of(
    st.text(max_size=70),
    st.sampled_from(BAD_NAMES + DEVICE_BAD + ["\ud800", "a\x00", "\u2028"]),
    NAME.map(lambda s: s + "\n"),
)
IN_RANGE = st.one_of(
    st.sampled_from([c.EPOCH_MS_MIN, c.EPOCH_MS_MAX]), st.integers(c.EPOCH_MS_MIN, c.EPOCH_MS_MAX)
)
EPOCH = st.one_of(
    st.integers(c.EPOCH_MS_MIN - 2, c.EPOCH_MS_MIN + 2),
    st.integers(c.EPOCH_MS_MAX - 2, c.EPOCH_MS_MAX + 2),
    IN_RANGE,
)
# JSON tokens written as is: lax spellings pydantic takes and msgspec does not, and edges.
_TOKENS = """1e400 -1e400 NaN Infinity -Infinity 1.0 0.0 -0 -0.0 1E2 1790000000000.0 1.79e12
1e-400 18446744073709551616 -9223372036854775809 "1" "1.5" "true" "yes" 0 1 true false null []
{} "device" "DEVICE" "good" "GOOD" 1.5 2 1000 1001 00 01"""
TOKENS = st.sampled_from(_TOKENS.split()).map(Raw)
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    EPOCH,
    NAME,
    ODD_TEXT,
    TOKENS,
)
ANY = st.recursive(
    SCALAR,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.one_of(NAME, ODD_TEXT), inner, max_size=3)
    ),
    max_leaves=6,
)
VALUE = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False), st.integers(), st.booleans(), st.text()
)
# Text the contract accepts and JSON writes without a backslash: the mirror's fast path
# takes only such payloads (an escape may hide a control character; those go to pydantic).
PLAIN_TEXT = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters='"\\\x7f').filter(
        lambda ch: ch >= " "
    )
)
VALID_VALUE = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False), st.integers(), st.booleans(), PLAIN_TEXT
)
KIND = st.sampled_from([k.value for k in c.AssetKind])


@st.composite
def _reading(draw: st.DrawFn, *, valid: bool) -> dict[str, Any]:
    out = {
        "asset": draw(NAME),
        "kind": draw(KIND),
        "sensor": draw(NAME),
        "field": draw(NAME),
        "t": draw(IN_RANGE if valid else EPOCH),
        "v": draw(VALID_VALUE if valid else VALUE),
    }
    if draw(st.booleans()):
        out["q"] = draw(st.sampled_from(["good", "uncertain", "bad"]))
    if draw(st.booleans()):
        out["unsynced"] = draw(st.booleans())
    return out


@st.composite
def _event(draw: st.DrawFn, *, valid: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"asset": draw(NAME), "kind": draw(KIND), "type": draw(NAME)}
    out["t"] = draw(IN_RANGE if valid else EPOCH)
    if draw(st.booleans()):
        out["active"] = draw(st.booleans())
    if draw(st.booleans()):
        out["severity"] = draw(
            st.sampled_from(["critical", "major", "minor", "warning", "indeterminate"])
        )
    if draw(st.booleans()):
        floats = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**6), 10**6)
        out["values"] = draw(st.dictionaries(NAME, floats, max_size=32 if valid else 33))
    if draw(st.booleans()):
        out["unsynced"] = draw(st.booleans())
    return out


@st.composite
def _message(draw: st.DrawFn, kind: c.Kind, *, valid: bool = False) -> dict[str, Any]:
    """A message, valid for the contract if ``valid``, else near it (edges of the ranges)."""
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["v"] = 1
    out |= {"device": draw(DEVICE), "site": draw(NAME)}
    low = int(valid)
    out |= {"boot": draw(st.integers(low, 2**63)), "seq": draw(st.integers(low, 2**65))}
    if draw(st.booleans()):
        out["historical"] = draw(st.booleans())
    if kind == c.Kind.DATA:
        out["readings"] = draw(st.lists(_reading(valid=valid), min_size=low, max_size=4))
    else:
        out["events"] = draw(st.lists(_event(valid=valid), min_size=low, max_size=3))
    return out


def _lax(value: Any) -> Any:
    """What pydantic's lax mode would still take for ``value`` (and msgspec would not)."""
    if isinstance(value, bool):
        return Raw("1" if value else "0")
    if isinstance(value, int):
        return Raw(f'"{value}"') if value % 2 else Raw(f"{value}.0")
    if isinstance(value, float) and math.isfinite(value):
        return Raw(json.dumps(str(value)))
    return Raw("1e400")


def _mutate(draw: Callable[[st.SearchStrategy[Any]], Any], root: Obj) -> None:
    slots: list[tuple[Any, int]] = []

    def walk(node: Any) -> None:
        if isinstance(node, Obj):
            slots.extend((node, i) for i in range(len(node.pairs)))
            for _, v in node.pairs:
                walk(v)
        elif isinstance(node, list):
            slots.extend((node, i) for i in range(len(node)))
            for v in node:
                walk(v)

    walk(root)
    node, i = draw(st.sampled_from(slots))
    how = draw(st.sampled_from(["replace", "lax", "delete", "extra", "duplicate"]))
    if isinstance(node, list):
        if how == "delete":
            del node[i]
        elif how in {"extra", "duplicate"}:
            node.append(node[i])
        else:
            node[i] = draw(ANY) if how == "replace" else _lax(node[i])
        return
    key, old = node.pairs[i]
    if how == "delete":
        del node.pairs[i]
    elif how == "extra":
        node.pairs.append((draw(st.one_of(NAME, ODD_TEXT)), draw(ANY)))
    elif how == "duplicate":
        node.pairs.append((key, draw(ANY)))
    else:
        node.pairs[i] = (key, draw(ANY) if how == "replace" else _lax(old))


def _check_alike(kind: c.Kind, raw: bytes) -> bool:
    """The property; returns whether the mirror accepted."""
    accept, decode = KINDS[kind]
    try:
        expected: Any = c.decode(kind, raw)
    except c.ContractError as exc:
        expected = exc
    got = accept(raw)
    if got is not None:
        assert not isinstance(expected, c.ContractError), (raw, expected)
        assert _plain(got) == _plain(expected)
    if isinstance(expected, c.ContractError):
        with pytest.raises(c.ContractError) as err:
            decode(raw)
        assert (err.value.reason, err.value.detail) == (expected.reason, expected.detail)
    else:
        assert _plain(decode(raw)) == _plain(expected)
    return got is not None


@pytest.mark.parametrize("kind", [c.Kind.DATA, c.Kind.EVENT])
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_payloads_decode_alike(kind: c.Kind, data: st.DataObject) -> None:
    root = _obj(data.draw(_message(kind)))
    for _ in range(data.draw(st.integers(0, 3))):
        _mutate(data.draw, root)
    raw = _dump(root, ascii_only=data.draw(st.booleans())).encode("utf-8", "surrogatepass")
    _check_alike(kind, raw)


@pytest.mark.parametrize("kind", [c.Kind.DATA, c.Kind.EVENT])
@settings(max_examples=500, deadline=None)
@given(data=st.data())
def test_the_contracts_own_encoding_takes_the_mirror(kind: c.Kind, data: st.DataObject) -> None:
    message = c.MODELS[kind].model_validate(data.draw(_message(kind, valid=True)))
    raw = c.encode(message)
    assert _check_alike(kind, raw), raw


def test_malformed_oversized_and_wrong_shapes_fall_back_with_the_contracts_reason() -> None:
    for raw in [
        b"{nope",
        b"",
        b"[]",
        b"null",
        b'"x"',
        b"\xff\xfe",
        b" " * (c.MAX_PAYLOAD_BYTES + 1),
        json.dumps(VALID[c.Kind.DATA]).encode() + b"x",
    ]:
        for kind in KINDS:
            assert not _check_alike(kind, raw)
