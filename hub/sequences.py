"""The ingest's sequence bookkeeping: known devices, stored watermarks, keys in flight. Pure.

One object owns it all, so no stage holds another's containers: the consume stage asks
whether a device is known and a (device, seq) already taken (:class:`Admission`), the
commit stage advances the watermarks of what was stored and reads the rows it persists, and
the device replies read a watermark. A (device, seq) is *pending* from its classification
until its batch is stored; pending keys count as taken, so a duplicate arriving while its
twin is in flight is dropped too (see :mod:`hub.dedup` for the per-device rules).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from hub.dedup import SeqState
from trygg import contract as c


@dataclass(frozen=True, slots=True)
class SeqRow:
    """A device's sequence columns as one commit persists them."""

    watermark: int = 0
    above: tuple[int, ...] = ()  # sorted
    gaps: int = 0
    lost: int = 0
    boot: int = 0

    @classmethod
    def of(cls, state: SeqState) -> SeqRow:
        return cls(
            watermark=state.watermark,
            above=tuple(sorted(state.above)),
            gaps=state.gaps,
            lost=state.lost,
            boot=state.boot,
        )


class Admission(Protocol):
    """What classifying a message needs of the bookkeeping."""

    def is_known(self, device: str) -> bool: ...

    def taken(self, key: tuple[str, int]) -> bool: ...

    def hold(self, key: tuple[str, int]) -> None: ...

    def born(self, birth: c.Birth) -> int: ...


class Sequences:
    __slots__ = ("_known", "_pending", "_seq")

    def __init__(self) -> None:
        self._known: set[str] = set()
        self._seq: dict[str, SeqState] = {}
        self._pending: set[tuple[str, int]] = set()

    def load(self, known: Iterable[str], seq: Mapping[str, SeqState]) -> None:
        """Add what the database holds (taken over: the caller keeps no reference)."""
        self._known.update(known)
        self._seq.update(seq)

    def admit(self, known: Iterable[str], *, keep: bool = False) -> None:
        """The registry now holds ``known`` (a live change): devices it no longer holds are
        refused from here on, their watermarks kept; ``keep`` adds instead (births of an
        open registry are known before they are committed)."""
        if keep:
            self._known.update(known)
        else:
            self._known = set(known)

    # ---- admission (the consume stage) ----------------------------------------------
    def is_known(self, device: str) -> bool:
        return device in self._known

    def taken(self, key: tuple[str, int]) -> bool:
        """True when (device, seq) is stored or in flight; the device's stream starts here."""
        device, seq = key
        state = self._seq.get(device)
        if state is None:
            state = self._seq[device] = SeqState()
        return state.is_stored(seq) or key in self._pending

    def hold(self, key: tuple[str, int]) -> None:
        """(device, seq) is in a batch on its way to storage."""
        self._pending.add(key)

    def born(self, birth: c.Birth) -> int:
        """Register the device of a birth the classifier accepted and align its stream with
        the birth's boot and lowest held seq; returns how many seqs the device gave up."""
        self._known.add(birth.device)
        state = self._seq.setdefault(birth.device, SeqState())
        lost = 0
        if birth.boot < state.boot:
            # Re-flashed: its seq starts again. Pending keys of the old stream are moot.
            state.restart(boot=birth.boot, low=birth.low)
            self._pending = {k for k in self._pending if k[0] != birth.device}
        else:
            lost = state.floor(birth.low)
        state.boot = max(state.boot, birth.boot)
        return lost

    def forget_pending(self) -> None:
        """A new broker session: whatever was in flight is re-delivered."""
        self._pending.clear()

    # ---- storage (the commit stage) -------------------------------------------------
    def advance(self, marks: Iterable[tuple[str, int]]) -> dict[str, int]:
        """The (device, seq) keys are durably stored: advance the watermarks; returns the
        new sequence gaps per device."""
        gaps: dict[str, int] = {}
        seqs, pending = self._seq, self._pending
        for device, seq in marks:
            state = seqs[device]
            before = state.gaps
            state.mark_stored(seq)
            pending.discard((device, seq))
            if state.gaps != before:
                gaps[device] = gaps.get(device, 0) + state.gaps - before
        return gaps

    def row(self, device: str) -> SeqRow:
        state = self._seq.get(device)
        return SeqRow() if state is None else SeqRow.of(state)

    def has_hole(self, device: str) -> bool:
        """Something above the watermark is stored: a gap is still open."""
        state = self._seq.get(device)
        return state is not None and bool(state.above)

    def watermark(self, device: str) -> int:
        """Every seq of ``device`` up to this is stored (what its Ack says)."""
        state = self._seq.get(device)
        return 0 if state is None else state.watermark

    def in_flight(self) -> int:
        return len(self._pending)
