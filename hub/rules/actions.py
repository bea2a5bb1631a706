"""What a rule asks for: open (or bump) an alarm, or clear it. Pure values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["critical", "major", "minor", "warning", "indeterminate"]


@dataclass(frozen=True, slots=True)
class Raise:
    asset: str
    alarm: str
    severity: Severity
    details: dict[str, float | int | str | bool] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Clear:
    asset: str
    alarm: str


Action = Raise | Clear
