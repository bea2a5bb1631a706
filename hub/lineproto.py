"""Contract readings -> InfluxDB line protocol. Pure.

Measurement = asset kind; tags = asset, device, sensor, site (low cardinality, sorted);
one field per reading, typed by the contract's field table so a field never changes type;
time in milliseconds (write with ``precision=ms``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import repeat
from operator import attrgetter
from typing import Final

import msgspec

from hub import contract_mirror as mirror
from trygg.contract import FIELDS, ContractError, Reading, Value

_TAG_ESCAPE: Final = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_MEAS_ESCAPE: Final = str.maketrans({",": r"\,", " ": r"\ "})


def escape_tag(value: str) -> str:
    return value.translate(_TAG_ESCAPE)


def escape_measurement(value: str) -> str:
    return value.translate(_MEAS_ESCAPE)


def field_value(name: str, value: Value) -> str:
    """The typed line-protocol value for field ``name``; ContractError('schema') if the
    value cannot be that type."""
    spec = FIELDS.get(name)
    if spec is None:
        raise ContractError("schema", f"unknown field {name!r}")
    kind = spec.type
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ContractError("schema", f"{name} must be a number, got {value!r}")
        f = float(value)
        if not math.isfinite(f):
            raise ContractError("schema", f"{name} must be finite")
        return repr(f)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ContractError("schema", f"{name} must be an integer, got {value!r}")
        return f"{value}i"
    if kind == "bool":
        if not isinstance(value, bool):
            raise ContractError("schema", f"{name} must be a boolean, got {value!r}")
        return "true" if value else "false"
    if not isinstance(value, str):
        raise ContractError("schema", f"{name} must be text, got {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_Series = tuple[str, str, str, str]  # (kind, asset, sensor, field)
# (device, site) -> series -> ("measurement,tags field=", the field's type). A fleet has a
# bounded set of series; escaping and looking them up again for every reading was most of
# the encode time.
_PREFIXES: dict[tuple[str, str], dict[_Series, tuple[str, str]]] = {}
_PREFIX_CACHE_MAX: Final = 200_000
_cached = 0


def _series(device: str, site: str, key: _Series) -> tuple[str, str]:
    global _cached  # noqa: PLW0603 - the cache's size, kept with it
    kind, asset, sensor, field = key
    spec = FIELDS.get(field)
    if spec is None:
        raise ContractError("schema", f"unknown field {field!r}")
    if _cached >= _PREFIX_CACHE_MAX:
        _PREFIXES.clear()
        _cached = 0
    entry = (
        f"{escape_measurement(str(kind))},asset={escape_tag(asset)},device={escape_tag(device)}"
        f",sensor={escape_tag(sensor)},site={escape_tag(site)} {field}=",
        spec.type,
    )
    _PREFIXES.setdefault((device, site), {})[key] = entry
    _cached += 1
    return entry


# A message's values and times formatted in one C call each (msgspec: the shortest text that
# reads back as the same double, which InfluxDB parses exactly) instead of a float repr
# and an int str each, which cost far more per number; worth it from this many readings on.
_ENCODE: Final = msgspec.json.Encoder().encode
_VALUE: Final = attrgetter("v")
_TIME: Final = attrgetter("t")
_TEXTS_MIN: Final = 4


# Either decoder's reading: the ingest's mirror, or the contract's model elsewhere.
AnyReading = Reading | mirror.Reading


def _number_texts(readings: Sequence[AnyReading]) -> tuple[list[str], list[str]] | None:
    """Every reading's value and time as text if every value is a finite number, else
    None (the readings are then formatted one by one)."""
    values = _ENCODE(list(map(_VALUE, readings))).decode()
    # null: not finite; true/false: a bool; a quote: text (which may hold a comma)
    if "n" in values or "t" in values or "f" in values or '"' in values:
        return None
    times = _ENCODE(list(map(_TIME, readings))).decode()
    return values[1:-1].split(","), times[1:-1].split(",")


def reading_lines(*, device: str, site: str, readings: Sequence[AnyReading]) -> list[str]:
    """One line per reading; raises ContractError('schema') on a mistyped value.

    A message's readings usually come in runs of one series (a sensor's samples, a
    replayed window), so the series prefix is looked up only when the series changes from
    the reading before; per reading there is then only the value and the time to format,
    and a message of numbers has those formatted all at once."""
    series = _PREFIXES.get((device, site))
    if series is None:
        series = {}
    texts = _number_texts(readings) if len(readings) >= _TEXTS_MIN else None
    values, times = texts if texts is not None else (repeat(""), repeat(""))
    out: list[str] = []
    append = out.append
    isfinite = math.isfinite
    kind: object = None  # the previous reading's series: (kind, asset, sensor, field)
    asset = sensor = field = prefix = ftype = ""
    for r, text, t in zip(readings, values, times, strict=False):
        if r.field != field or r.asset != asset or r.sensor != sensor or r.kind is not kind:
            kind, asset, sensor, field = r.kind, r.asset, r.sensor, r.field
            key = (r.kind, asset, sensor, field)
            entry = series.get(key)
            if entry is None:
                entry = _series(device, site, key)
                series = _PREFIXES[(device, site)]
            prefix, ftype = entry
        # Fast paths for the common cases; everything else, and every error, goes
        # through field_value. A number's text is an int's when it has no "." or "e".
        if text and ftype == "float":
            append(f"{prefix}{text} {t}")
        elif text and ftype == "int" and "." not in text and "e" not in text:
            append(f"{prefix}{text}i {t}")
        elif type(value := r.v) is float and ftype == "float" and isfinite(value):
            append(f"{prefix}{value!r} {r.t}")
        elif type(value) is int and ftype == "int":
            append(f"{prefix}{value}i {r.t}")
        else:
            append(f"{prefix}{field_value(field, value)} {r.t}")
    return out


def point(measurement: str, tags: dict[str, str], fields: dict[str, Value], t_ms: int) -> str:
    """A generic line (hub metrics, ticket events, gauges); fields typed by Python type."""
    tag_part = "".join(f",{k}={escape_tag(v)}" for k, v in sorted(tags.items()) if v)
    parts = []
    for key, value in fields.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int):
            text = f"{value}i"
        elif isinstance(value, float):
            text = repr(value)
        else:
            text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(f"{escape_tag(key)}={text}")
    return f"{escape_measurement(measurement)}{tag_part} {','.join(parts)} {t_ms}"
