"""Grafana's query interpolation, re-done for testing panel queries outside Grafana. Pure.

Grafana's InfluxDB data source replaces ``$timeFilter`` with ``time >= <from>ms and time <=
<to>ms``, ``$__interval`` with the panel's interval, and a template variable used inside a
regex with its value regex-escaped, several values as ``(a|b)``, and All as the variable's
``allValue`` (``.*`` here). This module does the same so tests and ``trygg dashboards
check`` can run the exact query a panel would run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

ALL: Final[tuple[str, ...]] = ("$__all",)
_TOKEN: Final = re.compile(r"\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]")


class RenderError(ValueError):
    """A query names a variable or macro that was not given."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("time range must be timezone-aware (UTC)")
        if self.end <= self.start:
            raise ValueError("time range end must be after its start")

    def filter(self) -> str:
        start_ms = int(self.start.timestamp() * 1000)
        end_ms = int(self.end.timestamp() * 1000)
        return f"time >= {start_ms}ms and time <= {end_ms}ms"

    def interval(self, max_points: int = 100) -> str:
        """Grafana-like auto interval: the range over ``max_points``, at least 1 s."""
        seconds = (self.end - self.start).total_seconds() / max_points
        return f"{max(1, round(seconds))}s"


def regex_value(values: tuple[str, ...]) -> str:
    """How Grafana formats a variable's selection inside ``/^...$/``."""
    if values == ALL:
        return ".*"
    escaped = [re.escape(v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def interpolate(query: str, *, time_range: TimeRange, variables: dict[str, tuple[str, ...]]) -> str:
    """``query`` with macros and variables replaced; RenderError for an unknown name."""
    macros = {"timeFilter": time_range.filter(), "__interval": time_range.interval()}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name in macros:
            return macros[name]
        if name in variables:
            if not variables[name]:
                raise RenderError(f"variable ${name} has no value")
            return regex_value(variables[name])
        if name.startswith("tag_") or name in {"col", "measurement"}:
            return match.group(0)  # alias patterns, not query variables
        raise RenderError(f"unknown variable or macro ${name} in: {query}")

    return _TOKEN.sub(replace, query)
