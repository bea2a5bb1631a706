"""How one AlertNotice goes out: webhook outbox rows and e-mail to its escalation level.

:meth:`Dispatcher.enqueue` adds the notice's outbox rows in the caller's transaction (the
webhook lanes post them, with their retries), :meth:`Dispatcher.emails` names whom it is
mailed to and :meth:`Dispatcher.mail` sends those mails with the webhooks' capped, jittered
back-off. The hub drives these from the committed alert changes
(:mod:`hub.alert_delivery.feed`), which is what makes delivery survive a hub's death.

:meth:`Dispatcher.offer` and :meth:`Dispatcher.run` are an in-memory queue in front of them
for a caller holding notices of its own: ``offer`` never blocks nor raises (a full queue
drops its oldest notice and counts it; an invalid record is counted and logged), and what
is queued there dies with the process, so the hub does not deliver through it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from hub import retry
from hub.alert_delivery import escalation, mail, webhook
from hub.alert_delivery.cap import CapSource
from hub.alert_delivery.notice import AlertNotice, NoticeError
from trygg.backoff import delay
from trygg.clock import Clock

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Counts:
    """What happened to the notices offered so far."""

    queued: int = 0
    dropped: int = 0
    invalid: int = 0
    webhook_rows: int = 0
    mails_sent: int = 0
    mails_failed: int = 0


@dataclass
class Dispatcher:
    """One task in the hub's TaskGroup: ``run(stop)``; ``offer`` is the lifecycle's hook."""

    sessions: sessionmaker[Session]
    clock: Clock
    source: CapSource
    levels: Sequence[escalation.Contact] = ()
    smtp: mail.SmtpServer | None = None
    wake_webhooks: Callable[[], None] = lambda: None
    max_queued: int = 1000
    retry_base_s: float = 2.0
    retry_cap_s: float = 60.0
    retry_attempts: int = 8
    rng: Callable[[], float] = random.random
    counts: Counts = field(default_factory=Counts)
    _queue: asyncio.Queue[AlertNotice] = field(init=False, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.max_queued)

    def offer(self, record: AlertNotice | object) -> bool:
        """Queue a notice (or the API's JSON object of one); False if it was refused.

        Safe to call from a worker thread too (e.g. rules run with ``asyncio.to_thread``):
        the notice is then handed to the dispatcher's loop.
        """
        try:
            notice = record if isinstance(record, AlertNotice) else AlertNotice.from_json(record)
        except NoticeError as exc:
            self.counts.invalid += 1
            log.warning("alert notice refused: %s", exc)
            return False
        loop = self._loop
        if loop is not None and not _on(loop):
            loop.call_soon_threadsafe(self._put, notice)
        else:
            self._put(notice)
        return True

    def _put(self, notice: AlertNotice) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.counts.dropped += 1
            log.warning("alert delivery queue full: dropped the oldest notice")
        self._queue.put_nowait(notice)
        self.counts.queued += 1

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        async with asyncio.TaskGroup() as tg:
            while not stop.is_set():
                getting = asyncio.ensure_future(self._queue.get())
                stopping = asyncio.ensure_future(stop.wait())
                done, _ = await asyncio.wait(
                    {getting, stopping}, return_when=asyncio.FIRST_COMPLETED
                )
                stopping.cancel()
                if getting not in done:
                    getting.cancel()
                    break
                notice = getting.result()
                try:
                    await self.deliver(notice, mails=tg.create_task)
                except Exception as exc:  # noqa: BLE001 - one notice's trouble stays here
                    log.warning(
                        "alert %s delivery failed: %s: %s", notice.key, type(exc).__name__, exc
                    )

    async def deliver(
        self,
        notice: AlertNotice,
        *,
        mails: Callable[[Coroutine[Any, Any, bool]], object] | None = None,
    ) -> None:
        """Queue ``notice``'s webhooks, then its mail (awaited unless ``mails`` runs it)."""

        def queue() -> int:
            with self.sessions.begin() as s:
                return self.enqueue(s, notice)

        added = await asyncio.to_thread(retry.transient, queue, what="alert webhooks")
        self.counts.webhook_rows += added
        if added:
            self.wake_webhooks()
        emails = self.emails(notice)
        if emails:
            sending = self.mail(notice, emails)
            if mails is None:
                await sending
            else:
                mails(sending)

    def enqueue(self, s: Session, notice: AlertNotice) -> int:
        """Add ``notice``'s webhook outbox rows in ``s`` (none that exist already); the count
        added. The caller commits, and counts and wakes the webhooks once it has."""
        return webhook.enqueue(
            s,
            notice,
            source=self.source,
            now=self.clock.now(),
            escalation_only=escalation.contact_webhooks(self.levels),
            told=escalation.recipients(self.levels, notice).webhooks,
        )

    def emails(self, notice: AlertNotice) -> tuple[str, ...]:
        """The addresses ``notice`` is mailed to (none without an SMTP server)."""
        if self.smtp is None:
            return ()
        return escalation.recipients(self.levels, notice).emails

    async def mail(self, notice: AlertNotice, to: Sequence[str]) -> bool:
        """E-mail ``notice`` to ``to``, retrying with back-off; True once sent.

        Never raises (but CancelledError): a mail that cannot go is counted and logged.
        """
        try:
            return await self._mail(notice, to)
        except Exception as exc:  # noqa: BLE001 - mail trouble must not end the dispatcher
            self.counts.mails_failed += len(to)
            log.warning("alert %s mail failed: %s: %s", notice.key, type(exc).__name__, exc)
            return False

    async def _mail(self, notice: AlertNotice, to: Sequence[str]) -> bool:
        if self.smtp is None:
            return False
        server = self.smtp
        messages = [mail.message(notice, sender=server.sender, to=addr) for addr in to]
        for attempt in range(1, self.retry_attempts + 1):
            try:
                await mail.send(server, messages)
            except mail.MailError as exc:
                if attempt == self.retry_attempts:
                    break
                wait = delay(
                    attempt - 1, base_s=self.retry_base_s, cap_s=self.retry_cap_s, rnd=self.rng()
                )
                log.info(
                    "alert %s mail attempt %d failed (%s); next in %.1fs",
                    notice.key,
                    attempt,
                    exc,
                    wait,
                )
                await asyncio.sleep(wait)
            else:
                self.counts.mails_sent += len(messages)
                return True
        self.counts.mails_failed += len(messages)
        log.warning("alert %s mail gave up after %d attempts", notice.key, self.retry_attempts)
        return False


def _on(loop: asyncio.AbstractEventLoop) -> bool:
    """Is the caller running in ``loop``'s thread?"""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
