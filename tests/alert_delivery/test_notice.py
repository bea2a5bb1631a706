"""AlertNotice.from_json takes the alerts API's object and refuses anything else."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from hub.alert_delivery.notice import AlertNotice, NoticeError
from tests.alert_delivery.samples import RAISED, states


def test_every_sample_round_trips_through_json() -> None:
    for state in states():
        notice = AlertNotice.from_json(state)
        again = AlertNotice.from_json(notice.to_json())
        assert again == notice


def test_times_become_utc_and_the_change_time_follows_the_status() -> None:
    _, escalated, acked, resolved, *_ = [AlertNotice.from_json(s) for s in states()]
    assert escalated.changed_at == datetime(2026, 12, 5, 18, 2, tzinfo=UTC)
    assert acked.changed_at == datetime(2026, 12, 5, 18, 3, 10, tzinfo=UTC)
    assert resolved.changed_at == datetime(2026, 12, 5, 17, 20, tzinfo=UTC)
    assert resolved.key == "7-resolved-1"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"box": [1, 2, 3, 4]}, "unknown alert keys ['box']"),
        ({"image": "aGVsbG8="}, "unknown alert keys ['image']"),
        ({"contact": "anna@example.se"}, "unknown alert keys ['contact']"),
        ({"kind": "crowdPanic"}, "kind must be one of"),
        ({"severity": "Critical"}, "severity must be one of"),
        ({"status": "open"}, "status must be one of"),
        ({"zone": "anna@example.se"}, "zone must be a name"),
        ({"place": "<script>"}, "place must be a name"),
        ({"place": " Arena"}, "place must be a name"),
        ({"zone": "x" * 121}, "zone must be a name"),
        ({"event": "Match\x00"}, "event must be a name"),
        ({"zone": ""}, "zone must be a name"),
        ({"figures": {"note": "call 070-1234567"}}, "figure note must be a number"),
        ({"figures": {"levelOfService": "G"}}, "figure levelOfService must be"),
        ({"figures": {"peopleCount": [1]}}, "figure peopleCount must be"),
        ({"figures": {"peopleCount": None}}, "figure peopleCount must be"),
        ({"figures": {"peopleDensity": float("nan")}}, "figure peopleDensity must be"),
        ({"figures": {"face box": 1}}, "figure name 'face box'"),
        ({"figures": [1, 2]}, "figures must be an object"),
        ({"raisedAt": "2026-12-05T18:00:00"}, "raisedAt must be an ISO 8601 time with an offset"),
        ({"raisedAt": "yesterday"}, "raisedAt must be"),
        ({"id": 0}, "id must be an integer"),
        ({"id": "7"}, "id must be an integer"),
        ({"escalationLevel": -1}, "escalationLevel must be an integer from 0"),
    ],
)
def test_bad_records_are_refused_with_the_key_named(change: dict[str, Any], says: str) -> None:
    with pytest.raises(NoticeError) as err:
        AlertNotice.from_json({**RAISED, **change})
    assert says in str(err.value)


def test_a_missing_key_or_a_non_object_is_refused() -> None:
    short = {k: v for k, v in RAISED.items() if k != "escalationLevel"}
    with pytest.raises(NoticeError, match="missing alert keys"):
        AlertNotice.from_json(short)
    with pytest.raises(NoticeError, match="JSON object"):
        AlertNotice.from_json([RAISED])


def test_names_as_operators_write_them_are_accepted() -> None:
    for name in ("Råsunda torg, Solna (norra)", 'AIK & "Bajen"', "Зона 1", "Gate 3/4 – öst"):
        assert AlertNotice.from_json({**RAISED, "place": name}).place == name
