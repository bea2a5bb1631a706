"""The hub's Dispatcher from its settings: the contacts file read and checked at start."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from hub.alert_delivery.cap import CapSource
from hub.alert_delivery.config import DeliveryConfig
from hub.alert_delivery.contacts import ContactsError, parse_contacts
from hub.alert_delivery.dispatch import Dispatcher
from hub.alert_delivery.escalation import Contact
from hub.alert_delivery.mail import SmtpServer
from trygg.clock import Clock


def load_contacts(config: DeliveryConfig) -> tuple[Contact, ...]:
    """The escalation levels in ``config.contacts_file`` (none when unset).

    Raises ContactsError naming the file when it cannot be read or is invalid.
    """
    path = config.contacts_file
    if path is None:
        return ()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise ContactsError(f"{path}: cannot read: {exc}") from exc
    return parse_contacts(text, source=str(path))


def build_dispatcher(
    config: DeliveryConfig, *, sessions: sessionmaker[Session], clock: Clock
) -> Dispatcher:
    """A Dispatcher for the hub; ContactsError or ValueError when the settings are unusable."""
    smtp = (
        None
        if config.smtp_host is None
        else SmtpServer(
            host=config.smtp_host,
            port=config.smtp_port,
            sender=config.smtp_from,
            starttls=config.smtp_starttls,
            username=config.smtp_username,
            password=config.smtp_password,
            timeout_s=config.smtp_timeout_s,
        )
    )
    return Dispatcher(
        sessions=sessions,
        clock=clock,
        source=CapSource(config.cap_sender),
        levels=load_contacts(config),
        smtp=smtp,
        retry_base_s=config.retry_base_s,
        retry_cap_s=config.retry_cap_s,
        retry_attempts=config.retry_attempts,
    )
