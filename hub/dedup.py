"""Which (device, seq) the hub has durably stored. Pure.

A device's ``seq`` is assigned once at its outbox and never reused (a re-flashed device
starts a new ``boot`` below the stored one, which resets its stream); so "stored" is a
watermark (every seq <= it is stored) plus the stored seqs above a hole. The watermark is
exactly what the end-to-end acknowledgement tells the device.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class SeqState:
    watermark: int = 0
    above: set[int] = field(default_factory=set)
    max_seen: int = 0
    gaps: int = 0
    lost: int = 0
    boot: int = 0

    def is_stored(self, seq: int) -> bool:
        return seq <= self.watermark or seq in self.above

    def mark_stored(self, seq: int) -> None:
        if seq <= self.watermark:
            return
        if seq > self.max_seen + 1 and self.max_seen:
            self.gaps += 1
        self.max_seen = max(self.max_seen, seq)
        if seq == self.watermark + 1:
            self.watermark = seq
            while self.watermark + 1 in self.above:
                self.above.discard(self.watermark + 1)
                self.watermark += 1
        else:
            self.above.add(seq)

    def floor(self, low: int) -> int:
        """The device holds nothing below ``low``: whatever is missing below it is lost.
        Returns how many sequence numbers were given up."""
        if low - 1 <= self.watermark:
            return 0
        missing = sum(1 for s in range(self.watermark + 1, low) if s not in self.above)
        self.above = {s for s in self.above if s >= low}
        self.watermark = low - 1
        while self.watermark + 1 in self.above:
            self.above.discard(self.watermark + 1)
            self.watermark += 1
        self.lost += missing
        self.max_seen = max(self.max_seen, self.watermark)
        return missing

    def restart(self, *, boot: int, low: int) -> None:
        """A device whose boot went backwards was re-flashed: its seq starts again."""
        self.watermark, self.above, self.max_seen, self.boot = low - 1, set(), low - 1, boot
