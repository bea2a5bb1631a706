"""Per-asset thresholds: rule defaults overridden by the asset's own properties. Pure.

A device announces each asset's properties in its birth (``AssetInfo.properties``, e.g. a
bin's ``fullnessThreshold``); they are stored on the asset and read here. Property names are
the camelCase of the parameter (``fullness_threshold`` <- ``fullnessThreshold``). A value of
the wrong type or outside its range is refused with a reason and the default is kept, so
one bad birth never breaks the rules of a whole fleet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

P = TypeVar("P")


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def from_properties(cls: type[P], properties: Mapping[str, Any]) -> tuple[P, list[str]]:
    """``cls`` (a frozen dataclass of floats/ints/bools) with overrides from ``properties``.

    Returns the parameters and a list of human-readable reasons for refused overrides.
    Numeric fields must be finite and >= 0 (a field's ``metadata["min"]``/``["max"]``
    narrow that).
    """
    values: dict[str, Any] = {}
    errors: list[str] = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = camel(f.name)
        if key not in properties:
            continue
        raw = properties[key]
        default = f.default
        if isinstance(default, bool):
            if isinstance(raw, bool):
                values[f.name] = raw
            else:
                errors.append(f"{key}: expected true/false, got {raw!r}")
            continue
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            errors.append(f"{key}: expected a number, got {raw!r}")
            continue
        lo = float(f.metadata.get("min", 0.0))
        hi = float(f.metadata.get("max", float("inf")))
        if not (lo <= float(raw) <= hi):
            errors.append(f"{key}: {raw!r} outside [{lo:g}, {hi:g}]")
            continue
        values[f.name] = type(default)(raw) if isinstance(default, int | float) else raw
    return cls(**values), errors


def bounded(default: float, *, lo: float = 0.0, hi: float = float("inf")) -> Any:
    """A dataclass field with a numeric range for :func:`from_properties`."""
    return dataclasses.field(default=default, metadata={"min": lo, "max": hi})
