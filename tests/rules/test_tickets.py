"""The ticket service on real SQLite and PostgreSQL: lifecycle, crews, refusals change nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub import tickets
from hub.crews import CrewError, contains, crew_for, upsert_crew
from hub.db import Asset, Device, Ticket, TicketHistory

NOW = datetime(2026, 12, 15, 9, 0, tzinfo=UTC)
# Two crew areas over Solna, [lon, lat] corners
NORTH = [[17.95, 59.36], [18.05, 59.36], [18.05, 59.40], [17.95, 59.40]]
SOUTH = [[17.95, 59.32], [18.05, 59.32], [18.05, 59.36], [17.95, 59.36]]


def _seed(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        upsert_crew(s, crew_id="crew-n", name="North", area="solna-north", polygon=NORTH)
        upsert_crew(s, crew_id="crew-s", name="South", area="solna-south", polygon=SOUTH)
        s.add(Device(id="pole-1", site="solna", above={"seqs": []}))
        s.flush()
        s.add(
            Asset(
                id="wall-1",
                device_id="pole-1",
                kind="camera",
                lat=59.37,
                lon=18.0,
                address="Råsundavägen 1",
                properties={},
            )
        )


def _snapshot(s: Session) -> tuple[list[tuple[object, ...]], int]:
    rows: list[tuple[object, ...]] = [
        (t.id, t.status, t.assignee, t.resolved_at, t.updated_at) for t in s.scalars(select(Ticket))
    ]
    return rows, int(s.scalar(select(func.count()).select_from(TicketHistory)) or 0)


def test_person_reported_graffiti_goes_to_the_crew_of_its_area(
    sessions: sessionmaker[Session],
) -> None:
    _seed(sessions)
    with sessions.begin() as s:
        t = tickets.create_ticket(
            s,
            kind="graffiti",
            reporter="citizen-app",
            now=NOW,
            lat=59.33,
            lon=18.0,
            description="tags on the underpass",
        )
        tid = t.id
    with sessions() as s:
        t = tickets.get_ticket(s, ticket_id=tid)
        assert (t.status, t.assignee, t.area, t.source) == (
            "new",
            "crew-s",
            "solna-south",
            "person",
        )
        assert t.sla_due == NOW + tickets.SLA[t.priority]
        assert [h.action for h in tickets.history(s, ticket_id=tid)] == ["open", "assign"]


def test_a_second_report_on_the_same_asset_is_not_a_duplicate_ticket(
    sessions: sessionmaker[Session],
) -> None:
    _seed(sessions)
    with sessions.begin() as s:
        a = tickets.create_ticket(
            s,
            kind="graffiti",
            reporter="crew-n",
            now=NOW,
            lat=59.37,
            lon=18.0,
            asset_id="wall-1",
            description="first",
        )
        b = tickets.create_ticket(
            s,
            kind="graffiti",
            reporter="citizen",
            now=NOW,
            lat=59.37,
            lon=18.0,
            asset_id="wall-1",
            description="second",
        )
        assert a.id == b.id
        assert b.alarm_count == 2
        assert b.address == "Råsundavägen 1"
        assert [c.text for c in tickets.comments(s, ticket_id=a.id)] == ["second"]


def test_full_lifecycle_with_audit_history(sessions: sessionmaker[Session]) -> None:
    _seed(sessions)
    with sessions.begin() as s:
        tid = tickets.create_ticket(
            s, kind="graffiti", reporter="op", now=NOW, lat=59.37, lon=18.0
        ).id
    steps: list[Callable[[Session, datetime], object]] = [
        lambda s, t: tickets.acknowledge(s, ticket_id=tid, actor="anna", now=t),
        lambda s, t: tickets.assign(s, ticket_id=tid, assignee="crew-s", actor="op", now=t),
        lambda s, t: tickets.start(s, ticket_id=tid, actor="anna", now=t),
        lambda s, t: tickets.comment(s, ticket_id=tid, author="anna", text="cleaning", now=t),
        lambda s, t: tickets.resolve(s, ticket_id=tid, actor="anna", now=t, note="clean"),
        lambda s, t: tickets.reopen(s, ticket_id=tid, actor="op", now=t, note="still there"),
        lambda s, t: tickets.resolve(s, ticket_id=tid, actor="anna", now=t),
        lambda s, t: tickets.close(s, ticket_id=tid, actor="op", now=t),
    ]
    for i, step in enumerate(steps):
        with sessions.begin() as s:
            step(s, NOW + timedelta(minutes=i + 1))
    with sessions() as s:
        t = tickets.get_ticket(s, ticket_id=tid)
        assert (t.status, t.assignee, t.reopen_count) == ("closed", "crew-s", 1)
        assert t.acknowledged_at == NOW + timedelta(minutes=1)
        assert [
            (h.action, h.from_status, h.to_status) for h in tickets.history(s, ticket_id=tid)
        ] == [
            ("open", None, "new"),
            ("assign", "new", "new"),
            ("acknowledge", "new", "acknowledged"),
            ("assign", "acknowledged", "acknowledged"),
            ("start", "acknowledged", "in_progress"),
            ("comment", "in_progress", "in_progress"),
            ("resolve", "in_progress", "resolved"),
            ("reopen", "resolved", "reopened"),
            ("resolve", "reopened", "resolved"),
            ("close", "resolved", "closed"),
        ]


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (
            lambda s, tid: tickets.resolve(s, ticket_id=tid, actor="x", now=NOW),
            "invalid_transition",
        ),
        (
            lambda s, tid: tickets.acknowledge(s, ticket_id=tid, actor="x", now=NOW),
            "invalid_transition",
        ),
        (
            lambda s, tid: tickets.assign(s, ticket_id=tid, assignee="crew-n", actor="x", now=NOW),
            "invalid_transition",
        ),
        (lambda s, tid: tickets.resolve(s, ticket_id=tid + 999, actor="x", now=NOW), "not_found"),
        (
            lambda s, tid: tickets.transition(
                s, ticket_id=tid, action="explode", actor="x", now=NOW
            ),
            "invalid_transition",
        ),
        (
            lambda s, tid: tickets.comment(s, ticket_id=tid, author="x", text="  ", now=NOW),
            "invalid_input",
        ),
        (
            lambda s, tid: tickets.mark_duplicate(
                s, ticket_id=tid, of_ticket_id=tid, actor="x", now=NOW
            ),
            "invalid_input",
        ),
        (lambda s, tid: tickets.list_tickets(s, status="nonsense"), "invalid_input"),
        (
            lambda s, tid: tickets.create_ticket(
                s, kind="graffiti", reporter="x", now=NOW, lat=95.0, lon=0.0
            ),
            "invalid_input",
        ),
        (
            lambda s, tid: tickets.create_ticket(
                s, kind="graffiti", reporter="x", now=NOW, lat=59.0, lon=18.0, asset_id="nope"
            ),
            "invalid_input",
        ),
    ],
)
def test_invalid_requests_are_refused_and_change_nothing(
    sessions: sessionmaker[Session], call: object, code: str
) -> None:
    _seed(sessions)
    with sessions.begin() as s:
        tid = tickets.create_ticket(
            s, kind="graffiti", reporter="op", now=NOW, lat=59.37, lon=18.0
        ).id
        tickets.resolve(s, ticket_id=tid, actor="op", now=NOW)
        tickets.close(s, ticket_id=tid, actor="op", now=NOW)
    with sessions() as s:
        before = _snapshot(s)
    with sessions() as s:
        with pytest.raises(tickets.TicketError) as err:
            call(s, tid)  # type: ignore[operator]
        assert err.value.code == code
        s.commit()  # even a commit after the refusal stores nothing
    with sessions() as s:
        assert _snapshot(s) == before


def test_list_filters(sessions: sessionmaker[Session]) -> None:
    _seed(sessions)
    with sessions.begin() as s:
        a = tickets.create_ticket(s, kind="graffiti", reporter="x", now=NOW, lat=59.37, lon=18.0).id
        b = tickets.create_ticket(
            s, kind="binFull", reporter="x", now=NOW, lat=59.33, lon=18.0, severity="major"
        ).id
        tickets.resolve(s, ticket_id=a, actor="x", now=NOW)
    with sessions() as s:
        assert [t.id for t in tickets.list_tickets(s, status="open")] == [b]
        assert [t.id for t in tickets.list_tickets(s, status=["resolved"])] == [a]
        assert [t.id for t in tickets.list_tickets(s, area="solna-south")] == [b]
        assert [t.id for t in tickets.list_tickets(s, assignee="crew-n")] == [a]
        assert [t.id for t in tickets.list_tickets(s, kind=["graffiti", "binFull"])] == [b, a]
        assert [t.id for t in tickets.list_tickets(s, priority=2)] == [b]


def test_point_in_polygon_and_invalid_polygons(sessions: sessionmaker[Session]) -> None:
    assert contains(NORTH, lat=59.38, lon=18.0)
    assert not contains(NORTH, lat=59.34, lon=18.0)
    concave = [[0, 0], [4, 0], [4, 4], [2, 1], [0, 4]]  # a notch at the top
    assert contains(concave, lat=0.5, lon=2.0)
    assert not contains(concave, lat=3.0, lon=2.0)
    with sessions.begin() as s:
        for bad in ([[0, 0], [1, 1]], [[0, 0], [1, "x"], [2, 2]], [[0, 0], [200, 0], [1, 1]]):
            with pytest.raises(CrewError):
                upsert_crew(s, crew_id="c", name="c", area="a", polygon=bad)
        assert crew_for(s, lat=59.38, lon=18.0, kind="graffiti") is None
