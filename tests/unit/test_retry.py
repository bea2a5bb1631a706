"""hub.retry: a transaction that hit a transient database error is run again, a few times."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from hub import retry


def _failing(n: int, exc: Exception) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= n:
            raise exc
        return "done"

    return calls, fn


DEADLOCK = OperationalError("UPDATE devices", {}, Exception("deadlock detected"))


def test_a_deadlock_victim_is_run_again_until_it_commits() -> None:
    calls, fn = _failing(2, DEADLOCK)
    assert retry.transient(fn, what="test", delays=(0.0, 0.0, 0.0)) == "done"
    assert len(calls) == 3


def test_it_gives_up_after_the_last_delay_with_the_error() -> None:
    calls, fn = _failing(10, DEADLOCK)
    with pytest.raises(OperationalError):
        retry.transient(fn, what="test", delays=(0.0, 0.0))
    assert len(calls) == 3


def test_other_errors_are_not_retried() -> None:
    calls, fn = _failing(1, IntegrityError("INSERT", {}, Exception("duplicate key")))
    with pytest.raises(IntegrityError):
        retry.transient(fn, what="test")
    assert len(calls) == 1
