"""Alert e-mail through a real SMTP server (aiosmtpd), with STARTTLS and login."""

from __future__ import annotations

import email
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from hub.alert_delivery import mail
from hub.alert_delivery.notice import AlertNotice
from tests.alert_delivery.samples import RAISED
from tests.certs import make_server_cert
from trygg.stack import free_port

pytestmark = pytest.mark.integration  # a real SMTP server (aiosmtpd)


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.got: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = email.message_from_bytes(envelope.content, policy=default)
        assert isinstance(msg, EmailMessage)
        self.got.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 OK"


def _auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"hub", b"s3cret")
    return AuthResult(success=ok)


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[Inbox, mail.SmtpServer]]:
    made = make_server_cert(tmp_path / "tls", names=("localhost",), ips=("127.0.0.1",))
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(made.cert, made.key)
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=_auth,
        auth_require_tls=True,
    )
    controller.start()
    client_tls = ssl.create_default_context(cafile=str(made.ca))
    try:
        yield (
            inbox,
            mail.SmtpServer(
                host="127.0.0.1",
                port=port,
                sender="trygg@solna.example",
                username="hub",
                password="s3cret",
                tls=client_tls,
                timeout_s=5,
            ),
        )
    finally:
        controller.stop()


async def test_a_mail_reaches_a_real_smtp_server(smtp: tuple[Inbox, mail.SmtpServer]) -> None:
    inbox, server = smtp
    notice = AlertNotice.from_json(RAISED)
    to = ["operator@solna.example", "event@solna.example"]
    await mail.send(server, [mail.message(notice, sender=server.sender, to=a) for a in to])
    assert [(f, r) for f, r, _ in inbox.got] == [
        ("trygg@solna.example", ["operator@solna.example"]),
        ("trygg@solna.example", ["event@solna.example"]),
    ]
    msg = inbox.got[0][2]
    assert msg["Subject"] == (
        "[Trygg Extreme] Larm: Kritisk trängsel – Strawberry Arena, arena-n-crowd0"
        " / Critical crowding"
    )
    text = msg.get_content()
    assert "Tid: 2026-12-05 19:00:00 CET" in text
    assert "täthet: 2,4 pers/m²" in text
    assert "Time: 2026-12-05 19:00:00 CET" in text
    assert "density: 2.4 pers/m²" in text
    assert text.index("Kritisk trängsel") < text.index("Critical crowding")


async def test_a_wrong_password_is_a_mail_error(smtp: tuple[Inbox, mail.SmtpServer]) -> None:
    inbox, server = smtp
    wrong = mail.SmtpServer(**{**_fields(server), "password": "nope", "timeout_s": 2})
    notice = AlertNotice.from_json(RAISED)
    with pytest.raises(mail.MailError, match=r"^SMTP 127\.0\.0\.1:\d+: SMTP"):
        await mail.send(wrong, [mail.message(notice, sender=wrong.sender, to="a@solna.example")])
    assert inbox.got == []


async def test_no_server_is_a_mail_error() -> None:
    server = mail.SmtpServer(host="127.0.0.1", port=free_port(), sender="t@x.example", timeout_s=2)
    notice = AlertNotice.from_json(RAISED)
    with pytest.raises(mail.MailError, match="ConnectionRefusedError"):
        await mail.send(server, [mail.message(notice, sender=server.sender, to="a@x.example")])


def _fields(server: mail.SmtpServer) -> dict[str, Any]:
    return {f: getattr(server, f) for f in server.__dataclass_fields__}
