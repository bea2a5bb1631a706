"""The hub's own health: each worker's and each dependency's state, for /ready and the self-alarm.

Pure bookkeeping: callers pass ``now`` (monotonic seconds) and say what happened; nothing here
does I/O. A *part* is a worker (``worker:ingest``) or a dependency check (``check:sql``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, Literal

State = Literal["starting", "ok", "failing", "stopped"]
MAX_ERROR: Final = 300


@dataclass(frozen=True, slots=True)
class PartState:
    name: str
    state: State
    since: float  # monotonic seconds when ``state`` began
    last_error: str | None = None
    failures: int = 0  # consecutive, reset once the part is ok again

    def as_json(self, now: float) -> dict[str, object]:
        return {
            "name": self.name,
            "state": self.state,
            "for_s": round(max(0.0, now - self.since), 1),
            "last_error": self.last_error,
            "failures": self.failures,
        }


def describe(exc: BaseException) -> str:
    """One line naming the error's type and first message line, bounded and printable, so a
    dependency's message can neither flood a log nor smuggle control characters."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return f"{type(exc).__name__}: {text}"[:MAX_ERROR]


class Health:
    """Every part's latest state; one instance per hub."""

    def __init__(self) -> None:
        self._parts: dict[str, PartState] = {}

    def starting(self, name: str, *, now: float) -> None:
        if name not in self._parts:
            self._parts[name] = PartState(name, "starting", now)

    def ok(self, name: str, *, now: float) -> bool:
        """Mark ``name`` ok; True when it was failing (it recovered)."""
        old = self._parts.get(name)
        if old is not None and old.state == "ok":
            return False
        self._parts[name] = PartState(name, "ok", now, old.last_error if old else None)
        return old is not None and old.state == "failing"

    def failed(self, name: str, error: str, *, now: float) -> PartState:
        """Record a failure; the state keeps the time it first failed."""
        old = self._parts.get(name)
        if old is not None and old.state == "failing":
            new = replace(old, last_error=error, failures=old.failures + 1)
        else:
            new = PartState(name, "failing", now, error, 1)
        self._parts[name] = new
        return new

    def stopped(self, name: str, *, now: float) -> None:
        """A worker that ended on purpose (e.g. nothing to watch): neither ok nor failing."""
        self._parts[name] = PartState(name, "stopped", now)

    def parts(self) -> list[PartState]:
        return sorted(self._parts.values(), key=lambda p: p.name)

    def failing(self) -> list[PartState]:
        return [p for p in self.parts() if p.state == "failing"]

    def degraded(self, *, now: float, grace_s: float) -> list[PartState]:
        """The parts failing for at least ``grace_s``: what the self-alarm reports."""
        return [p for p in self.failing() if now - p.since >= grace_s]
