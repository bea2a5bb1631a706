"""Jittered exponential back-off, the one used wherever something is retried after a failure.

The n-th delay (from 0) is ``min(cap, base * 2**n)`` scaled by a random 50-100 %: the
spread keeps a fleet that lost its broker together from reconnecting in lock-step, and the
floor keeps a retry from coming at once.
"""

from __future__ import annotations

import random


def delay(attempt: int, *, base_s: float, cap_s: float, rnd: float) -> float:
    """Seconds before retry ``attempt`` (0 for the first); ``rnd`` in [0, 1)."""
    return min(cap_s, base_s * 2.0 ** max(0, attempt)) * (0.5 + 0.5 * rnd)


class Backoff:
    """The delays of one retry loop: :meth:`next_delay` grows them, :meth:`reset` after a
    success starts again from ``base_s``."""

    def __init__(self, base_s: float, cap_s: float, *, rng: random.Random | None = None) -> None:
        if not (base_s > 0 and cap_s > 0):
            raise ValueError(f"back-off needs positive base_s and cap_s, got {base_s}, {cap_s}")
        self.base_s, self.cap_s = base_s, cap_s
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.attempt = 0

    def next_delay(self) -> float:
        wait = delay(self.attempt, base_s=self.base_s, cap_s=self.cap_s, rnd=self._rng.random())
        self.attempt += 1
        return wait

    def reset(self) -> None:
        self.attempt = 0
