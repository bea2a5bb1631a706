"""A compiled mirror of the contract's stream messages (``data``, ``event``) for the hub's hot
path. Pure.

Why: validating a ``data`` message with pydantic spends most of its time building a model
instance per reading, while ``msgspec`` decodes and validates the same JSON into slotted
structs several times faster. The pydantic models in :mod:`trygg.contract` stay the single source
of truth (the JSON Schema export, the edge's encoding, every other kind); this module mirrors
``Data``/``Reading`` and ``Events``/``EventItem`` field for field, and only ever *accepts a
subset* of what they accept:

- msgspec is strict where pydantic is lax (``"5"`` or ``5.0`` for an int, ``1`` for a bool,
  ``1e400``/``NaN`` for a float): such payloads, and everything the mirror refuses, go to
  :func:`trygg.contract.decode`, so a rejected message gets exactly today's
  :class:`~trygg.contract.ContractError` reason and detail;
- free text (a reading's string value) has the contract's control-character pattern
  declared here as JSON Schema too, and is checked on the raw bytes instead: JSON can carry
  a control character only as a backslash escape (or a raw DEL), so a payload with neither
  byte holds none, and one with either goes to the contract's validator (two ``memchr``
  scans of the payload, where a pattern per string value would cost a regex each);
- name patterns are declared here as JSON Schema (``extra_json_schema``), not as msgspec
  patterns (a Python ``re`` search per string: 80 per message cost more than all the rest),
  and checked after decoding against names already seen to match (:class:`KnownNames`).

tests/unit/test_contract_mirror.py proves the two agree: the same fields and constraints
(from both JSON Schemas), and on generated valid and mutated payloads, whatever the mirror
accepts pydantic accepts with the same values and types.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

import msgspec
from msgspec import Meta

from trygg import contract as c
from trygg import text

_Name = Annotated[str, Meta(extra_json_schema={"pattern": c.NAME_PATTERN})]
_DeviceId = Annotated[str, Meta(extra_json_schema={"pattern": c.DEVICE_ID_PATTERN})]
_Line = Annotated[str, Meta(extra_json_schema={"pattern": text.LINE_PATTERN})]
_EpochMs = Annotated[int, Meta(ge=c.EPOCH_MS_MIN, le=c.EPOCH_MS_MAX)]
_Positive = Annotated[int, Meta(ge=1)]


# gc=False: decoded JSON cannot form reference cycles, so the collector need not track them.
class Reading(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    asset: _Name
    kind: c.AssetKind
    sensor: _Name
    field: _Name
    t: _EpochMs
    v: float | int | bool | _Line
    q: Literal["good", "uncertain", "bad"] = "good"
    unsynced: bool = False


class Data(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    v: Literal[1] = 1
    device: _DeviceId
    site: _Name
    boot: _Positive
    seq: _Positive
    historical: bool = False
    readings: Annotated[list[Reading], Meta(min_length=1, max_length=c.MAX_READINGS_PER_MESSAGE)]


class EventItem(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    asset: _Name
    kind: c.AssetKind
    type: _Name
    t: _EpochMs
    active: bool = True
    severity: Literal["critical", "major", "minor", "warning", "indeterminate"] = "warning"
    values: Annotated[dict[_Name, float], Meta(max_length=32)] = msgspec.field(default_factory=dict)
    unsynced: bool = False


class Events(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    v: Literal[1] = 1
    device: _DeviceId
    site: _Name
    boot: _Positive
    seq: _Positive
    historical: bool = False
    events: Annotated[list[EventItem], Meta(min_length=1, max_length=c.MAX_EVENTS_PER_MESSAGE)]


class KnownNames:
    """Strings already seen to match one contract pattern.

    A fleet sends a bounded set of names (assets, sensors, fields, devices, sites), so after
    the first messages a check is a set lookup, not a regex. ``fullmatch`` reproduces
    pydantic's Rust regex, whose ``$`` is the end of the text (Python's ``$`` would also
    match before a final newline). Bounded: past ``limit`` names it starts again empty."""

    __slots__ = ("_fullmatch", "_limit", "known")

    def __init__(self, pattern: str, *, limit: int = 100_000) -> None:
        self._fullmatch = re.compile(pattern).fullmatch
        self._limit = limit
        self.known: set[str] = set()  # read directly by the hot loops below

    def match(self, *names: str) -> bool:
        """True if every name matches the pattern (remembering those that do)."""
        known = self.known
        for name in names:
            if name in known:
                continue
            if not self._fullmatch(name):
                return False
            if len(known) >= self._limit:
                known.clear()
            known.add(name)
        return True


_NAMES: Final = KnownNames(c.NAME_PATTERN)
_DEVICE_IDS: Final = KnownNames(c.DEVICE_ID_PATTERN)
_DATA: Final = msgspec.json.Decoder(Data)
_EVENTS: Final = msgspec.json.Decoder(Events)


# The name checks are plain loops over the fields annotated with a pattern above, because
# loops are cheaper per message than composed attrgetters and set operations.
# tests/unit/test_contract_mirror.py puts a bad name into every such field, as read from the
# annotations, so a patterned field added without its check here fails there.
def _header_ok(message: Data | Events) -> bool:
    return (message.device in _DEVICE_IDS.known or _DEVICE_IDS.match(message.device)) and (
        message.site in _NAMES.known or _NAMES.match(message.site)
    )


def _data_names_ok(message: Data) -> bool:
    if not _header_ok(message):
        return False
    known = _NAMES.known
    # Readings come in runs of one series: names equal to the reading before's were
    # checked with it (comparing is cheaper than hashing a freshly decoded string).
    asset = sensor = field = None
    for r in message.readings:
        if r.field == field and r.asset == asset and r.sensor == sensor:
            continue
        asset, sensor, field = r.asset, r.sensor, r.field
        if (asset not in known or sensor not in known or field not in known) and not _NAMES.match(
            asset, sensor, field
        ):
            return False
    return True


def _events_names_ok(message: Events) -> bool:
    if not _header_ok(message):
        return False
    known = _NAMES.known
    for e in message.events:
        if (e.asset not in known or e.type not in known) and not _NAMES.match(e.asset, e.type):
            return False
        if e.values and not _NAMES.match(*e.values):
            return False
    return True


def mirror_data(payload: bytes) -> Data | None:
    """The mirror's :class:`Data` if it accepts ``payload``, else None (not an error: the
    contract's own validator then decides)."""
    if len(payload) > c.MAX_PAYLOAD_BYTES or b"\\" in payload or b"\x7f" in payload:
        return None
    try:
        message = _DATA.decode(payload)
    except ValueError:  # msgspec.DecodeError, or UnicodeDecodeError on bad UTF-8
        return None
    return message if _data_names_ok(message) else None


def mirror_events(payload: bytes) -> Events | None:
    """The mirror's :class:`Events` if it accepts ``payload``, else None."""
    if len(payload) > c.MAX_PAYLOAD_BYTES or b"\\" in payload or b"\x7f" in payload:
        return None
    try:
        message = _EVENTS.decode(payload)
    except ValueError:
        return None
    return message if _events_names_ok(message) else None


def as_data(message: c.Data) -> Data:
    """The mirror's :class:`Data` holding what a validated contract ``Data`` holds."""
    return msgspec.convert(message, Data, from_attributes=True)


def as_events(message: c.Events) -> Events:
    """The mirror's :class:`Events` holding what a validated contract ``Events`` holds."""
    return msgspec.convert(message, Events, from_attributes=True)


def decode_data(payload: bytes) -> Data:
    """A ``data`` payload, validated completely: the mirror's :class:`Data` when it accepts,
    else what :func:`trygg.contract.decode` makes of it, as a :class:`Data` too (so the
    hub's consumers see one type), or the :class:`~trygg.contract.ContractError` with its
    reason."""
    message = mirror_data(payload)
    if message is not None:
        return message
    return as_data(c.decode(c.Kind.DATA, payload))


def decode_events(payload: bytes) -> Events:
    """An ``event`` payload, like :func:`decode_data`."""
    message = mirror_events(payload)
    if message is not None:
        return message
    return as_events(c.decode(c.Kind.EVENT, payload))
