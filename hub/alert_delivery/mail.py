"""Alert e-mail: the message (pure) and sending it through SMTP (stdlib, in a thread).

The subject and body are Swedish with the English below, built only from the notice's
words (:mod:`hub.alert_delivery.wording`), so a mail holds numbers and names of places,
zones and events. The recipients are operators and police from the contacts file; each
gets a separate message, so nobody learns the other addresses.
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime

from hub.alert_delivery.cap import LOCAL
from hub.alert_delivery.notice import AlertNotice
from hub.alert_delivery.wording import text


class MailError(RuntimeError):
    """The SMTP server could not be reached or refused the message (retry later)."""


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how to send: STARTTLS and login are used when set."""

    host: str
    port: int
    sender: str
    starttls: bool = True
    username: str | None = None
    password: str | None = None
    timeout_s: float = 10.0
    tls: ssl.SSLContext | None = None  # None: the system's CA store


def subject(notice: AlertNotice) -> str:
    sv, en = text(notice, "sv-SE"), text(notice, "en-GB")
    return f"[Trygg {notice.severity}] {sv.headline} / {en.event}"


def body(notice: AlertNotice) -> str:
    """Swedish, a rule, then English; the time in Stockholm time."""
    when = notice.changed_at.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M:%S %Z")
    parts = []
    for language in ("sv-SE", "en-GB"):
        words = text(notice, language)
        label = "Tid" if language == "sv-SE" else "Time"
        parts.append(f"{words.headline}\n{label}: {when}\n{words.description}\n")
    return "\n----\n\n".join(parts) + f"\nTrygg alert {notice.key}\n"


def message_id(notice: AlertNotice, *, sender: str, to: str) -> str:
    """The same Message-ID each time this state of this alert is mailed to ``to``, so a mail
    sent again after a hub's death is recognisably the same one; the address is hashed,
    so the header does not repeat it."""
    recipient = hashlib.sha256(to.strip().lower().encode()).hexdigest()[:16]
    return f"<trygg.alert.{notice.key}.{recipient}@{sender.rsplit('@', 1)[-1]}>"


def message(notice: AlertNotice, *, sender: str, to: str) -> EmailMessage:
    """The e-mail for one recipient."""
    msg = EmailMessage()
    msg["Subject"] = subject(notice)
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = format_datetime(notice.changed_at)
    msg["Message-ID"] = message_id(notice, sender=sender, to=to)
    msg["Content-Language"] = "sv, en"
    msg.set_content(body(notice))
    return msg


def send_blocking(server: SmtpServer, messages: list[EmailMessage]) -> None:
    """Send ``messages`` over one SMTP session; MailError if any is refused or it fails."""
    try:
        with smtplib.SMTP(server.host, server.port, timeout=server.timeout_s) as smtp:
            if server.starttls:
                smtp.starttls(context=server.tls or ssl.create_default_context())
            if server.username is not None:
                smtp.login(server.username, server.password or "")
            for msg in messages:
                smtp.send_message(msg)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"SMTP {server.host}:{server.port}: {type(exc).__name__}: {exc}") from exc


async def send(server: SmtpServer, messages: list[EmailMessage]) -> None:
    """:func:`send_blocking` off the event loop."""
    await asyncio.to_thread(send_blocking, server, messages)
