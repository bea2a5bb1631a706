"""How one AlertNotice goes out: webhook outbox rows and e-mail to its escalation level.

:meth:`Dispatcher.enqueue` adds the notice's outbox rows in the caller's transaction (the
webhook lanes post them, with their retries), :meth:`Dispatcher.emails` names whom it is
mailed to and :meth:`Dispatcher.mail` sends those mails with the webhooks' capped, jittered
back-off. The hub drives these from the committed alert changes
(:mod:`hub.alert_delivery.feed`), which is what makes delivery survive a hub's death.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from hub.alert_delivery import escalation, mail, webhook
from hub.alert_delivery.cap import CapSource
from hub.alert_delivery.notice import AlertNotice
from trygg.backoff import delay
from trygg.clock import Clock

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Counts:
    """What this process queued and mailed."""

    webhook_rows: int = 0
    mails_sent: int = 0
    mails_failed: int = 0


@dataclass
class Dispatcher:
    """Sends notices through the webhook outbox and by e-mail (no state but counts)."""

    sessions: sessionmaker[Session]
    clock: Clock
    source: CapSource
    levels: Sequence[escalation.Contact] = ()
    smtp: mail.SmtpServer | None = None
    wake_webhooks: Callable[[], None] = lambda: None
    retry_base_s: float = 2.0
    retry_cap_s: float = 60.0
    retry_attempts: int = 8
    rng: Callable[[], float] = random.random
    counts: Counts = field(default_factory=Counts)

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
