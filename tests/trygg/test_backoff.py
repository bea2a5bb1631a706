"""trygg.backoff: delays double from the base up to the cap, each jittered to 50-100 %."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trygg.backoff import Backoff, delay


@given(
    attempt=st.integers(0, 200),
    base=st.floats(0.01, 10),
    cap=st.floats(10, 3600),
    rnd=st.floats(0, 1, exclude_max=True),
)
def test_a_delay_is_half_to_all_of_the_capped_doubling(
    attempt: int, base: float, cap: float, rnd: float
) -> None:
    full = min(cap, base * 2.0**attempt)
    assert full / 2 <= delay(attempt, base_s=base, cap_s=cap, rnd=rnd) <= full


def test_delays_grow_to_the_cap_and_start_again_after_a_reset() -> None:
    retry = Backoff(0.5, 4.0, rng=random.Random(1))
    waits = [retry.next_delay() for _ in range(6)]
    for n, wait in enumerate(waits):
        assert min(4.0, 0.5 * 2**n) / 2 <= wait <= min(4.0, 0.5 * 2**n)
    assert retry.attempt == 6
    retry.reset()
    assert retry.next_delay() <= 0.5


def test_jitter_spreads_a_fleet_that_retries_together() -> None:
    firsts = {
        round(Backoff(1.0, 60.0, rng=random.Random(seed)).next_delay(), 3) for seed in range(50)
    }
    assert len(firsts) > 40


@pytest.mark.parametrize(("base", "cap"), [(0.0, 1.0), (-1.0, 1.0), (1.0, 0.0)])
def test_a_back_off_that_cannot_wait_is_refused(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="back-off"):
        Backoff(base, cap)


def test_a_cap_below_the_base_caps_every_delay() -> None:
    retry = Backoff(2.0, 1.0, rng=random.Random(0))
    assert all(0.5 <= retry.next_delay() <= 1.0 for _ in range(5))
