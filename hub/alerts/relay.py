"""Alert changes made by other hubs, heard through the shared SQL database.

Each hub's :class:`~hub.alerts.events.Bus` hears what this process changes at once; a change
committed by another hub (its rules own the zone, or an operator acknowledged there) shows
only as a new ``alert_history`` row. The relay polls those rows and publishes the alerts'
current states on the local bus, so an operator page connected to any hub hears every
change (delivery reads the rows itself: :mod:`hub.alert_delivery.feed`).

A state this process has already published is not published again: the relay listens to
the bus and remembers each alert's last state it carried, and it waits one poll before
publishing a new row, by which time a change made here has been published here. PostgreSQL
may commit rows out of id order, so each poll looks back ``lookback`` ids and skips rows it
has handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts import store
from hub.alerts.events import Bus
from hub.alerts.model import Alert
from hub.alerts.tables import AlertHistory, AlertRow

log = logging.getLogger(__name__)

State = tuple[str, str, int]  # what a listener must hear again: status, severity, level


def state(alert: Alert) -> State:
    return (alert.status, alert.severity, alert.escalation_level)


class Relay:
    """Publishes other hubs' alert changes on ``bus``; ``run(stop)`` is a hub worker."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        bus: Bus,
        poll_s: float = 0.5,
        lookback: int = 200,
        remember: int = 10_000,
    ) -> None:
        self.sessions, self.bus = sessions, bus
        self.poll_s, self.lookback, self.remember = poll_s, lookback, remember
        self.relayed = 0
        self._said: OrderedDict[int, State] = OrderedDict()  # alert id -> last state published
        self._handled: set[int] = set()  # history ids already acted on
        self._pending: dict[int, int] = {}  # history id -> alert id, seen once
        self._top = 0  # the highest history id seen
        bus.subscribe(self._heard)

    def _heard(self, alert: Alert) -> None:
        """Every state published here, by this process or by the relay itself."""
        self._said[alert.id] = state(alert)
        self._said.move_to_end(alert.id)
        while len(self._said) > self.remember:
            self._said.popitem(last=False)

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.to_thread(self.start)
        while not stop.is_set():
            alerts = await asyncio.to_thread(self.poll)
            if alerts:
                self.bus.publish(alerts, relayed=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll_s)

    def start(self) -> None:
        """What is in the table already is old news: only later changes are relayed."""
        with self.sessions() as s:
            self._top = int(s.scalar(select(func.max(AlertHistory.id))) or 0)
            self._handled = set(
                s.scalars(
                    select(AlertHistory.id).where(AlertHistory.id > self._top - self.lookback)
                )
            )

    def poll(self) -> list[Alert]:
        """The alerts whose rows waited one poll and whose states this hub has not told."""
        with self.sessions() as s:
            rows = s.execute(
                select(AlertHistory.id, AlertHistory.alert_id)
                .where(AlertHistory.id > self._top - self.lookback)
                .order_by(AlertHistory.id)
            ).all()
            due = sorted(set(self._pending.values()))
            self._handled.update(self._pending)
            self._pending = {h: a for h, a in rows if h not in self._handled}
            if rows:
                self._top = max(self._top, rows[-1][0])
            floor = self._top - self.lookback
            self._handled = {h for h in self._handled if h > floor}
            found = [store.to_alert(r) for r in _alerts(s, due)]
        fresh = [a for a in found if self._said.get(a.id) != state(a)]
        self.relayed += len(fresh)
        return fresh


def _alerts(s: Session, ids: Sequence[int]) -> list[AlertRow]:
    if not ids:
        return []
    return list(s.scalars(select(AlertRow).where(AlertRow.id.in_(ids)).order_by(AlertRow.id)))
