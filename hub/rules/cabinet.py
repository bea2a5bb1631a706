"""Cabinet power loss: many lamps of one cabinet dark at once is one fault, not N. Pure.

Set: at least ``min_lamps`` lamps and at least ``set_fraction`` of the cabinet's known lamps
are dark and unlit (their raw lamp-out signal, before the lamps' own hold time), held for
``min_on_s``. Clear: at most ``clear_fraction`` are, held for ``min_off_s``. ``min_on_s`` is
shorter than the lamps' own hold, so the cabinet alarm is up before the lamp alarms would
fire, and the engine suppresses those (root cause) instead of opening N lamp tickets.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.rules.actions import Action, Clear, Raise
from hub.rules.condition import IDLE, Debounce, Signal, debounce
from hub.rules.params import bounded

CABINET_OUT = "cabinetOut"


@dataclass(frozen=True, slots=True)
class CabinetParams:
    min_lamps: int = 3
    set_fraction: float = bounded(0.6, hi=1.0)
    clear_fraction: float = bounded(0.3, hi=1.0)
    min_on_s: float = 60.0
    min_off_s: float = 120.0


# At dusk the lamps of one cabinet switch on within a minute or two of each other and of
# the hub's sun position (the sun sinks ~0.1 deg/min here in winter); the cabinet rule,
# whose hold is short, counts a lamp as out only once the sun is this far past the switch
# point, so a dusk that comes a minute early on some poles is no outage.
DUSK_MARGIN_DEG = 1.0


@dataclass(frozen=True, slots=True)
class CabinetState:
    out: Debounce = IDLE
    last_ms: int = 0


def cabinet_step(
    state: CabinetState,
    *,
    cabinet: str,
    lamps_out: int | None,
    lamps_total: int,
    t_ms: int,
    p: CabinetParams,
) -> tuple[CabinetState, list[Action]]:
    """Re-judge a cabinet from its lamps' current signals (``lamps_out`` None = tick)."""
    t_ms = max(t_ms, state.last_ms)
    signal: Signal | None = None
    if lamps_out is not None and lamps_total > 0:
        share = lamps_out / lamps_total
        if lamps_out >= p.min_lamps and share >= p.set_fraction:
            signal = "set"
        elif share <= p.clear_fraction:
            signal = "clear"
        else:
            signal = "band"
    out, flip = debounce(state.out, signal, t_ms=t_ms, min_on_s=p.min_on_s, min_off_s=p.min_off_s)
    actions: list[Action] = []
    if flip == "set":
        actions.append(
            Raise(
                cabinet,
                CABINET_OUT,
                "critical",
                {"lampsOut": float(lamps_out or 0), "lamps": float(lamps_total)},
            )
        )
    elif flip == "clear":
        actions.append(Clear(cabinet, CABINET_OUT))
    return CabinetState(out=out, last_ms=t_ms), actions
