"""Leases: named, expiring ownership of shared work, kept in the hub's SQL database.

Several hubs share one database; whichever holds a lease does the named work (a partition's
ingest, a once-only schedule) until it stops renewing and the lease expires, then another hub
takes it over. Every takeover bumps the lease's fencing ``token``, so a writer that stalled and
woke up can be refused: :meth:`Leases.held` checks holder and token inside the writer's own
transaction. Each step is one conditional UPDATE or INSERT, so the database's own row locking
decides races; there is no consensus of our own.

Expiry is judged by the acting hub's clock, so hubs need synchronised clocks (NTP): skew
between them must stay well below the TTL.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Table, and_, case, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.db import LeaseRow
from trygg.clock import Clock

TABLE = cast(Table, LeaseRow.__table__)
NAME_MAX = 100
HOLDER_MAX = 200

# Lease calls get threads of their own: queued behind a busy hub's ingest work in the
# default executor, a renewal comes late, and a lease renewed late is a lease lost.
_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="trygg-leases")
_T = TypeVar("_T")


async def in_lease_thread(call: Callable[..., _T], *args: Any) -> _T:
    """``call(*args)`` in a lease thread (blocking SQL off the event loop)."""
    return await asyncio.get_running_loop().run_in_executor(
        _THREADS, functools.partial(call, *args)
    )


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease as its holder got it; ``token`` identifies this tenure."""

    name: str
    holder: str
    token: int


@dataclass(frozen=True, slots=True)
class LeaseState:
    """One row of the lease table as seen at ``now`` (for the API and operators)."""

    name: str
    holder: str
    token: int
    expires_at: datetime
    live: bool


def check_name(name: str) -> str:
    """``name`` if it can name a lease; ValueError otherwise."""
    if not name or len(name) > NAME_MAX or name != name.strip():
        raise ValueError(f"lease name must be 1..{NAME_MAX} characters without outer spaces")
    return name


class Leases:
    """Take, renew and give up leases as ``holder``; each lease lasts ``ttl_s`` from its last
    renewal. Database errors (SQLAlchemyError) reach the caller, which retries on its next
    tick: a lease it could not renew simply expires."""

    def __init__(
        self, *, sessions: sessionmaker[Any], clock: Clock, holder: str, ttl_s: float
    ) -> None:
        if not holder or len(holder) > HOLDER_MAX:
            raise ValueError(f"lease holder must be 1..{HOLDER_MAX} characters")
        if not ttl_s > 0:
            raise ValueError("lease ttl_s must be positive")
        self.sessions = sessions
        self.clock = clock
        self.holder = holder
        self.ttl_s = ttl_s

    def _until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.ttl_s)

    def try_acquire(self, name: str) -> Lease | None:
        """The lease ``name`` if it was free, expired or already ours (then renewed); None
        while another holder's lease runs. A lease taken anew gets a bumped token, even one
        that was ours but had expired, since work may have been refused in between."""
        check_name(name)
        now = self.clock.now()
        row = TABLE
        with self.sessions.begin() as s:
            ours_and_live = and_(row.c.holder == self.holder, row.c.expires_at > now)
            took: CursorResult[Any] = s.execute(
                update(row)
                .where(row.c.name == name, or_(ours_and_live, row.c.expires_at <= now))
                .values(
                    token=_case_keep_or_bump(ours_and_live, row.c.token),
                    holder=self.holder,
                    expires_at=self._until(now),
                )
            )
            if took.rowcount == 1:
                token = s.execute(select(row.c.token).where(row.c.name == name)).scalar_one()
                return Lease(name=name, holder=self.holder, token=int(token))
        return self._try_insert(name, now)

    def _try_insert(self, name: str, now: datetime) -> Lease | None:
        try:
            with self.sessions.begin() as s:
                s.execute(
                    insert(TABLE).values(
                        name=name, holder=self.holder, token=1, expires_at=self._until(now)
                    )
                )
        except IntegrityError:
            return None  # another holder created it first; it is theirs now
        return Lease(name=name, holder=self.holder, token=1)

    def renew(self, lease: Lease) -> bool:
        """Push ``lease``'s expiry a TTL ahead; False if it has been taken over (or released),
        after which the caller must stop the lease's work. A lease that expired but that nobody
        took keeps its token and is renewed: no other holder can have written under it."""
        now = self.clock.now()
        row = TABLE
        with self.sessions.begin() as s:
            done: CursorResult[Any] = s.execute(
                update(row).where(*_ours(lease)).values(expires_at=self._until(now))
            )
            return done.rowcount == 1

    def release(self, lease: Lease) -> None:
        """Give ``lease`` up now so another holder need not wait for it to expire (the row
        keeps no holder, so the lease cannot be renewed); nothing happens if it is no longer
        ours."""
        now = self.clock.now()
        row = TABLE
        with self.sessions.begin() as s:
            s.execute(update(row).where(*_ours(lease)).values(holder="", expires_at=now))

    def held(self, name: str, token: int, session: Session) -> bool:
        """Whether this holder still holds ``name`` with ``token``, unexpired, as seen by the
        transaction of ``session``. The check is an UPDATE of the lease row, so the row stays
        locked until that transaction ends: no takeover can commit between this check and the
        caller's commit."""
        now = self.clock.now()
        row = TABLE
        done = session.execute(
            update(row)
            .where(
                row.c.name == name,
                row.c.holder == self.holder,
                row.c.token == token,
                row.c.expires_at > now,
            )
            .values(token=row.c.token)
        )
        return cast(CursorResult[Any], done).rowcount == 1

    def holders(self) -> list[LeaseState]:
        """Every lease row, by name, marked live where it has not expired."""
        now = self.clock.now()
        with self.sessions() as s:
            rows = s.execute(select(LeaseRow).order_by(LeaseRow.name)).scalars().all()
        return [
            LeaseState(
                name=r.name,
                holder=r.holder,
                token=r.token,
                expires_at=r.expires_at,
                live=r.expires_at > now,
            )
            for r in rows
        ]


def _ours(lease: Lease) -> tuple[Any, ...]:
    row = TABLE
    return (row.c.name == lease.name, row.c.holder == lease.holder, row.c.token == lease.token)


def _case_keep_or_bump(keep: Any, token: Any) -> Any:
    return case((keep, token), else_=token + 1)
