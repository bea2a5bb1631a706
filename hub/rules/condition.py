"""A debounced condition with hysteresis: the building block of every rule. Pure.

Each rule turns an observation into a *signal*: ``"set"`` (the set condition holds, e.g.
fill >= threshold), ``"clear"`` (the clear condition holds, e.g. fill < threshold - margin)
or ``"band"`` (neither: inside the hysteresis band, or the observation says nothing).
The alarm flips only after the opposite signal has held without interruption for the
minimum on (to set) or off (to clear) duration, so a noisy value never makes an alarm flap.
A clock tick passes ``signal=None``: no new observation, the last one still stands, so a
timer can complete without a further reading ("fires on time, not on the next reading").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Signal = Literal["set", "clear", "band"]
Flip = Literal["set", "clear"]


@dataclass(frozen=True, slots=True)
class Debounce:
    active: bool = False
    last: Signal | None = None  # the latest observed signal (ticks reuse it)
    since_ms: int | None = None  # when the signal towards a flip started holding


def debounce(
    state: Debounce,
    signal: Signal | None,
    *,
    t_ms: int,
    min_on_s: float,
    min_off_s: float,
) -> tuple[Debounce, Flip | None]:
    """Advance ``state`` to time ``t_ms`` with ``signal`` (None = time passing only).

    Returns the new state and ``"set"``/``"clear"`` when the alarm flips at this step.
    """
    observed = signal if signal is not None else state.last
    toward: Signal = "clear" if state.active else "set"
    if observed != toward:
        if signal is None and state.since_ms is None:
            return state, None
        return Debounce(state.active, observed, None), None
    since = state.since_ms if state.since_ms is not None else t_ms
    held_ms = max(0, t_ms - since)
    need_ms = (min_off_s if state.active else min_on_s) * 1000.0
    if held_ms >= need_ms:
        flip: Flip = "clear" if state.active else "set"
        return Debounce(not state.active, observed, None), flip
    return Debounce(state.active, observed, since), None


IDLE = Debounce()  # frozen, so one shared default is safe
