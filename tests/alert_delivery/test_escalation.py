"""The escalation policy (pure) and its contacts file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.alert_delivery.contacts import ContactsError, dump_contacts, parse_contacts
from hub.alert_delivery.escalation import Contact, contact_webhooks, level_due, recipients
from hub.alert_delivery.notice import AlertNotice
from tests.alert_delivery.samples import RAISED

FILE = """
levels:
  - name: Operatör i tjänst
    email: operator@solna.example
    delay_s: 0
  - name: Evenemangsansvarig
    email: event@solna.example
    webhook: 4
    delay_s: 60
  - name: Polisens ledningscentral
    webhook: 5
    delay_s: 120
"""
T0 = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)


def _notice(status: str, level: int) -> AlertNotice:
    return AlertNotice.from_json(
        {
            **RAISED,
            "status": status,
            "escalationLevel": level,
            "escalatedAt": "2026-12-05T18:01:00+00:00" if level else None,
            "acknowledgedAt": "2026-12-05T18:04:00+00:00" if status == "acknowledged" else None,
        }
    )


def test_the_file_is_read_in_order() -> None:
    levels = parse_contacts(FILE, source="contacts.yaml")
    assert [c.name for c in levels] == [
        "Operatör i tjänst",
        "Evenemangsansvarig",
        "Polisens ledningscentral",
    ]
    assert levels[2] == Contact("Polisens ledningscentral", None, 5, 120.0)
    assert parse_contacts(dump_contacts(levels), source="again.json") == levels
    assert contact_webhooks(levels) == {4, 5}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("levels: []", "contacts.yaml: levels: List should have at least 1 item"),
        ("levels:\n  - {name: a, delay_s: 0}", "contacts.yaml: levels.0: needs an email or a"),
        (
            "levels:\n  - {name: a, email: a@x.se, delay_s: 5}",
            "contacts.yaml: levels.0.delay_s: the first level is told at once",
        ),
        ("levels:\n  - {name: a, email: not-an-address, delay_s: 0}", "levels.0.email"),
        ("levels:\n  - {name: a, email: a@x.se, delay_s: 0, phone: 1}", "levels.0.phone"),
        (
            "levels:\n  - {name: a, email: a@x.se, delay_s: 0}\n  - {name: b, webhook: 0, "
            "delay_s: 1}",
            "levels.1.webhook",
        ),
        ("levels: [", "contacts.yaml: not YAML or JSON"),
        ("- just a list", "contacts.yaml: (top)"),
    ],
)
def test_a_bad_file_names_itself_and_the_key(text: str, says: str) -> None:
    with pytest.raises(ContactsError) as err:
        parse_contacts(text, source="contacts.yaml")
    assert says in str(err.value)


def test_the_due_level_adds_the_delays_up() -> None:
    levels = parse_contacts(FILE, source="f")
    cases = [(0, 0), (59, 0), (60, 1), (179, 1), (180, 2), (3600, 2)]
    for seconds, level in cases:
        now = T0 + timedelta(seconds=seconds)
        assert level_due(levels, raised_at=T0, now=now) == level, seconds


def test_who_hears_what() -> None:
    levels = parse_contacts(FILE, source="f")
    raised = recipients(levels, _notice("raised", 0))
    assert (raised.emails, raised.webhooks) == (("operator@solna.example",), ())
    second = recipients(levels, _notice("escalated", 1))
    assert (second.emails, second.webhooks) == (("event@solna.example",), (4,))
    third = recipients(levels, _notice("escalated", 2))
    assert (third.emails, third.webhooks) == ((), (5,))
    beyond = recipients(levels, _notice("escalated", 7))
    assert beyond == third
    acked = recipients(levels, _notice("acknowledged", 1))
    assert acked.emails == ("operator@solna.example", "event@solna.example")
    assert acked.webhooks == (4,)
    assert recipients((), _notice("raised", 0)).emails == ()
