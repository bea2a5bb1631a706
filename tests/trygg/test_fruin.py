"""Fruin's levels of service: every bound, both sides, for walkways and queues."""

from __future__ import annotations

import math

import pytest

from trygg.fruin import QUEUE_BOUNDS, WALKWAY_BOUNDS, queue_los, walkway_los


@pytest.mark.parametrize(
    ("density", "walk", "queue"),
    [
        (0.0, "A", "A"),
        (0.309, "A", "A"),
        (0.31, "B", "A"),
        (0.429, "B", "A"),
        (0.43, "C", "A"),
        (0.719, "C", "A"),
        (0.72, "D", "A"),
        (0.829, "D", "A"),
        (0.83, "D", "B"),
        (1.079, "D", "B"),
        (1.08, "E", "C"),
        (1.539, "E", "C"),
        (1.54, "E", "D"),
        (2.15, "E", "D"),
        (2.169, "E", "D"),
        (2.17, "F", "D"),
        (3.589, "F", "D"),
        (3.59, "F", "E"),
        (5.379, "F", "E"),
        (5.38, "F", "F"),
        (math.inf, "F", "F"),
    ],
)
def test_a_density_on_a_bound_takes_the_worse_level(density: float, walk: str, queue: str) -> None:
    assert walkway_los(density) == walk
    assert queue_los(density) == queue


def test_the_walkway_table_is_fruins() -> None:
    assert WALKWAY_BOUNDS == (0.31, 0.43, 0.72, 1.08, 2.17)
    assert QUEUE_BOUNDS == (0.83, 1.08, 1.54, 3.59, 5.38)


@pytest.mark.parametrize("density", [-0.01, -math.inf, math.nan])
def test_a_density_that_is_no_density_is_refused(density: float) -> None:
    with pytest.raises(ValueError, match="density"):
        walkway_los(density)
    with pytest.raises(ValueError, match="density"):
        queue_los(density)
