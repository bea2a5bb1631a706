"""What makes a replayed alert notice recognisably the same one: the alert kept with its
history row gives the same notice, webhook body and CAP message, and a mail sent again
carries the same Message-ID. Pure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from hub.alert_delivery import cap, mail
from hub.alert_delivery.notice import AlertNotice
from hub.alert_delivery.webhook import json_body
from hub.alerts.lifecycle import advance
from hub.alerts.model import Alert
from tests.alert_delivery.samples import RAISED

T0 = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)
SOURCE = cap.CapSource("trygg.solna.example")
ALERT = Alert(
    id=7,
    kind="crowdLevel",
    severity="Extreme",
    status="raised",
    zone="arena-n-crowd0",
    place="Strawberry Arena",
    event="AIK–Hammarby",
    figures={"peopleDensity": 2.4, "levelOfService": "F"},
    raised_at=T0,
)


@pytest.mark.parametrize(
    "alert",
    [
        ALERT,
        advance(ALERT, "escalate", now=T0 + timedelta(minutes=2), by="rule")[0],
        advance(ALERT, "acknowledge", now=T0 + timedelta(seconds=30), by="op")[0],
        advance(ALERT, "resolve", now=T0 + timedelta(hours=1), by="rule")[0],
    ],
    ids=["raised", "escalated", "acknowledged", "resolved"],
)
def test_the_kept_alert_gives_the_notice_the_live_change_gave(alert: Alert) -> None:
    live = AlertNotice.from_json(alert.to_json())
    kept = AlertNotice.from_json(json.loads(json.dumps(alert.to_json())))  # via a JSON column
    assert kept == live
    assert kept.key == f"7-{alert.status}-{alert.escalation_level}"
    assert cap.render(kept, SOURCE) == cap.render(live, SOURCE)
    assert json_body(kept, delivery_id=3) == json_body(live, delivery_id=3)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (("7-raised-0", "polis@solna.example"), ("7-raised-0", "polis@solna.example"), True),
        (("7-raised-0", "polis@solna.example"), ("7-raised-0", " Polis@Solna.example"), True),
        (("7-raised-0", "polis@solna.example"), ("7-raised-0", "operator@solna.example"), False),
        (("7-raised-0", "polis@solna.example"), ("7-escalated-1", "polis@solna.example"), False),
        (("7-raised-0", "polis@solna.example"), ("8-raised-0", "polis@solna.example"), False),
    ],
)
def test_a_mail_sent_again_has_the_same_message_id_and_only_then(
    a: tuple[str, str], b: tuple[str, str], same: bool
) -> None:
    def message_id(key: str, to: str) -> str:
        alert_id, status, level = key.split("-")
        notice = AlertNotice.from_json(
            {
                **RAISED,
                "id": int(alert_id),
                "status": status,
                "escalationLevel": int(level),
                "escalatedAt": RAISED["raisedAt"] if status == "escalated" else None,
            }
        )
        return str(mail.message(notice, sender="trygg@solna.example", to=to)["Message-ID"])

    first, second = message_id(*a), message_id(*b)
    assert (first == second) is same
    assert first.startswith(f"<trygg.alert.{a[0]}.")
    assert first.endswith("@solna.example>")
    assert "polis" not in first  # the address is not repeated in a header others may see
