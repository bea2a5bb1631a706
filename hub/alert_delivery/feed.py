"""Delivers every committed alert change at least once, whichever hub made it or died.

:class:`NoticeFeed` is the work of the hub's ``alert-delivery`` duty (one holder across all
hubs, :mod:`hub.duty`). It reads the changes not yet delivered from SQL
(:mod:`hub.alert_delivery.pending`), puts each into the webhook outbox and marks it delivered
in the same transaction, so a hub killed at any point either committed both or neither.
A change that is also e-mailed is marked only once its mails are sent (or given up after
their retries); a holder killed in between leaves it unmarked, and the next holder mails
it again with the same Message-ID. The outbox's unique (subscription, alert state) keeps a
webhook from being queued twice, so a receiver sees a repeat only as a retry of one
``delivery_id``.

The hub's alert bus wakes the feed at once after a change made here; changes other hubs
made are found by polling every ``poll_s``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from hub import retry
from hub.alert_delivery import pending
from hub.alert_delivery.dispatch import Dispatcher
from hub.alert_delivery.notice import AlertNotice, NoticeError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class FeedCounts:
    """What the feed did in this process."""

    delivered: int = 0  # changes marked delivered here
    invalid: int = 0  # changes whose stored alert is not a valid notice (marked, not sent)
    failed: int = 0  # attempts that failed and are left for the next poll


@dataclass
class NoticeFeed:
    """``run(ended)`` delivers until ``ended``; ``wake()`` (from any thread) looks at once."""

    dispatcher: Dispatcher
    poll_s: float = 0.5
    batch: int = 100
    counts: FeedCounts = field(default_factory=FeedCounts)
    _woken: asyncio.Event | None = field(default=None, init=False, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)

    def wake(self) -> None:
        loop, woken = self._loop, self._woken
        if loop is not None and woken is not None and not loop.is_closed():
            loop.call_soon_threadsafe(woken.set)

    async def run(self, ended: asyncio.Event) -> None:
        """Deliver what waits, then each new change, until ``ended``. Mails still under way
        then are abandoned unmarked, for the next holder to send."""
        self._loop, self._woken = asyncio.get_running_loop(), asyncio.Event()
        mailing: dict[int, asyncio.Task[None]] = {}  # history id -> its mails being sent
        async with asyncio.TaskGroup() as tg:
            while not ended.is_set():
                self._woken.clear()
                taken = await self._take(frozenset(mailing))
                done = 0
                for change in taken:
                    if ended.is_set():
                        break
                    done += await self._deliver(change, tg, mailing)
                if len(taken) < self.batch or not done:  # caught up, or failing: pause
                    await self._sleep(ended)
            for task in mailing.values():
                task.cancel()

    async def _sleep(self, ended: asyncio.Event) -> None:
        assert self._woken is not None
        waits = {asyncio.ensure_future(ended.wait()), asyncio.ensure_future(self._woken.wait())}
        try:
            await asyncio.wait(waits, timeout=self.poll_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _take(self, skip: frozenset[int]) -> list[pending.Pending]:
        def take() -> list[pending.Pending]:
            with self.dispatcher.sessions() as s:
                return pending.take(s, limit=self.batch, skip=skip)

        try:
            return await asyncio.to_thread(retry.transient, take, what="alert notices")
        except Exception as exc:  # noqa: BLE001 - the database may be away; poll again
            self.counts.failed += 1
            log.warning("alert notices: cannot read: %s: %s", type(exc).__name__, exc)
            return []

    async def _deliver(
        self,
        change: pending.Pending,
        tg: asyncio.TaskGroup,
        mailing: dict[int, asyncio.Task[None]],
    ) -> bool:
        """Deliver one change (its mail in a task of ``tg``); False when it failed."""
        try:
            notice = AlertNotice.from_json(change.alert)
        except NoticeError:
            self.counts.invalid += 1
            # Not the reason: it quotes the refused value, which may be someone's address.
            log.warning(
                "alert change %d is no valid notice: marked, not sent (its alert_history row "
                "shows why)",
                change.history_id,
            )
            return await self._mark(change.history_id, what="invalid")
        emails = self.dispatcher.emails(notice)
        sessions, clock = self.dispatcher.sessions, self.dispatcher.clock

        def queue() -> int:
            with sessions.begin() as s:
                added = self.dispatcher.enqueue(s, notice)
                if not emails:  # nothing else to do: delivered with its outbox rows
                    pending.mark_delivered(s, change.history_id, now=clock.now())
                return added

        try:
            added = await asyncio.to_thread(retry.transient, queue, what="alert webhooks")
        except Exception as exc:  # noqa: BLE001 - one change's trouble stays unmarked
            self.counts.failed += 1
            log.warning("alert %s delivery failed: %s: %s", notice.key, type(exc).__name__, exc)
            return False
        self.dispatcher.counts.webhook_rows += added
        if added:
            self.dispatcher.wake_webhooks()
        if not emails:
            self.counts.delivered += 1
            return True
        mailing[change.history_id] = tg.create_task(
            self._mail(change.history_id, notice, emails, mailing),
            name=f"alert-mail-{notice.key}",
        )
        return True

    async def _mail(
        self,
        history_id: int,
        notice: AlertNotice,
        emails: tuple[str, ...],
        mailing: dict[int, asyncio.Task[None]],
    ) -> None:
        try:
            await self.dispatcher.mail(notice, emails)  # never raises; counts its failures
            if await self._mark(history_id, what=notice.key):
                self.counts.delivered += 1
        finally:
            mailing.pop(history_id, None)

    async def _mark(self, history_id: int, *, what: str) -> bool:
        sessions, clock = self.dispatcher.sessions, self.dispatcher.clock

        def mark() -> None:
            with sessions.begin() as s:
                pending.mark_delivered(s, history_id, now=clock.now())

        try:
            await asyncio.to_thread(retry.transient, mark, what="alert notices")
        except Exception as exc:  # noqa: BLE001 - left unmarked: delivered again later
            self.counts.failed += 1
            log.warning("alert %s: cannot mark delivered: %s: %s", what, type(exc).__name__, exc)
            return False
        return True
