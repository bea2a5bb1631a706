"""Rule state <-> JSON for the ``rule_state`` table. Pure.

Rule states are frozen dataclasses whose fields are numbers, strings, ``None``, tuples of
those (or of pairs), and nested :class:`~hub.rules.condition.Debounce` values; every field
has a default, which is what tells :func:`load` how to rebuild it. Unknown keys (from an
older hub) are ignored and missing ones take their defaults, so a state written by another
version still loads.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from hub.rules.condition import Debounce

S = TypeVar("S")


def dump(state: Any) -> dict[str, Any]:
    """A JSON-ready dict of the dataclass ``state`` (tuples become lists)."""
    return dataclasses.asdict(state)


def _rebuild(default: Any, value: Any) -> Any:
    if isinstance(default, Debounce) and isinstance(value, dict):
        known = {f.name for f in dataclasses.fields(Debounce)}
        return Debounce(**{k: v for k, v in value.items() if k in known})
    if isinstance(default, tuple) and isinstance(value, list):
        return tuple(tuple(x) if isinstance(x, list) else x for x in value)
    return value


def load(cls: type[S], data: dict[str, Any]) -> S:
    """Rebuild ``cls`` from :func:`dump` output."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        values[f.name] = _rebuild(default, data[f.name])
    return cls(**values)
