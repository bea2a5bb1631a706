"""The pure parts import no I/O, and the hub's dispatcher is built from its settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.alert_delivery.config import DeliveryConfig
from hub.alert_delivery.contacts import ContactsError
from hub.alert_delivery.setup import build_dispatcher
from tests.purity import io_imported_by
from trygg.clock import SystemClock


def test_policy_and_rendering_are_pure() -> None:
    modules = ("notice", "wording", "cap", "escalation")
    assert io_imported_by(*(f"hub.alert_delivery.{m}" for m in modules)) == []


def _sessions() -> sessionmaker[Session]:
    return sessionmaker()


def test_no_contacts_file_means_webhooks_only() -> None:
    d = build_dispatcher(DeliveryConfig(), sessions=_sessions(), clock=SystemClock())
    assert (d.levels, d.smtp, d.source.sender) == ((), None, "trygg.solna.se")


def test_the_contacts_file_and_smtp_come_from_the_settings(tmp_path: Path) -> None:
    path = tmp_path / "contacts.yaml"
    path.write_text("levels:\n  - {name: Operatör, email: op@solna.example, delay_s: 0}\n")
    config = DeliveryConfig(contacts_file=path, smtp_host="smtp.solna.example", smtp_port=25)
    d = build_dispatcher(config, sessions=_sessions(), clock=SystemClock())
    assert [c.email for c in d.levels] == ["op@solna.example"]
    assert d.smtp is not None
    assert (d.smtp.host, d.smtp.port, d.smtp.starttls) == ("smtp.solna.example", 25, True)


def test_a_bad_or_missing_contacts_file_stops_the_start_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("levels:\n  - {name: x, delay_s: 0}\n")
    with pytest.raises(ContactsError, match=f"^{bad}: levels.0: needs an email"):
        build_dispatcher(
            DeliveryConfig(contacts_file=bad), sessions=_sessions(), clock=SystemClock()
        )
    gone = tmp_path / "gone.yaml"
    with pytest.raises(ContactsError, match=f"^{gone}: cannot read"):
        build_dispatcher(
            DeliveryConfig(contacts_file=gone), sessions=_sessions(), clock=SystemClock()
        )
    with pytest.raises(ValueError, match="CAP sender"):
        build_dispatcher(
            DeliveryConfig(cap_sender="a b"), sessions=_sessions(), clock=SystemClock()
        )
