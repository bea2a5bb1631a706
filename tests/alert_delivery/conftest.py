"""A real SMTP server (aiosmtpd) on a free port, keeping what it is sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from hub.alert_delivery import mail
from tests.alert_delivery.test_mail import Inbox
from trygg.stack import free_port


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, mail.SmtpServer]]:
    got = Inbox()
    port = free_port()
    controller = Controller(got, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield (
            got,
            mail.SmtpServer(
                host="127.0.0.1", port=port, sender="trygg@solna.example", starttls=False
            ),
        )
    finally:
        controller.stop()
