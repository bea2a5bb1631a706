"""Quantiles by nearest rank, as the follow-up figures state them. Pure."""

from __future__ import annotations

import math
from collections.abc import Sequence


def nearest_rank(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0 < q <= 1) by nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
