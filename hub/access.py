"""Who may see or change which ticket: the one rule every ticket path asks.

Crews see and act on their own area's tickets only; operators and admins on every ticket.
The same rule is given twice, as a check of one loaded ticket and as a filter for a query,
so a list can never show what a lookup by id would refuse.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, false

from hub.auth import Principal
from hub.db import Ticket

_Query = TypeVar("_Query", bound=Select[Any])


def may_see(who: Principal, ticket: Ticket) -> bool:
    """True if ``who`` may read ``ticket`` (and act on it, as far as their role allows)."""
    return who.sees_area(ticket.area)


def restrict(who: Principal, q: _Query) -> _Query:
    """``q`` (a query over tickets) narrowed to the tickets ``who`` may see."""
    if who.at_least("operator"):
        return q
    if who.area is None:
        return q.where(false())
    return q.where(Ticket.area == who.area)
