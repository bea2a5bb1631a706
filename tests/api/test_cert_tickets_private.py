"""Certificate tickets are the operators' business: never on the public Open311 API."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from hub.cert_watch import apply
from hub.db import Ticket
from hub.rules.certificates import Watched
from tests.api.conftest import Hub, add_lamp, open_ticket

V2 = "/open311/v2"


def test_certificate_tickets_stay_off_open311(hub: Hub) -> None:
    asset = add_lamp(hub.sessions, device="c0", site="centrum", lat=59.36, lon=18.0)
    lamp = open_ticket(hub.sessions, hub.clock, asset)
    now = hub.clock.now()
    cert = Watched(
        "certificate",
        "CN=pole-c0",
        "10AB",
        now - timedelta(days=800),
        now + timedelta(days=5),
        "/pki/public/devices/pole-c0.crt",
    )
    with hub.sessions.begin() as s:
        result = apply(s, [cert], now=now)
    assert result.raised == 1
    with hub.sessions() as s:
        (ticket,) = s.scalars(select(Ticket).where(Ticket.kind == "certificateExpiring")).all()
        assert ticket.severity == "critical"
        assert ticket.title == f"Certificate pole-c0 expires {cert.not_after.date()}: renew it"
        cid = ticket.id
    # the crews' API shows it
    crew = hub.client.get("/api/v1/tickets", headers=hub.h(hub.operator)).json()
    assert cid in {t["id"] for t in crew}
    # Open311 does not: not in the list, not by id, not as a service, not in the updates
    listed = hub.client.get(f"{V2}/requests.json").json()
    assert [r["service_request_id"] for r in listed] == [str(lamp)]
    assert hub.client.get(f"{V2}/requests/{cid}.json").status_code == 404
    by_id = hub.client.get(f"{V2}/requests.json?service_request_id={cid},{lamp}").json()
    assert [r["service_request_id"] for r in by_id] == [str(lamp)]
    codes = {s["service_code"] for s in hub.client.get(f"{V2}/services.json").json()}
    assert "certificateExpiring" not in codes
    hub.clock.advance(3600)
    with hub.sessions.begin() as s:  # renewed: the certificate is gone, the ticket resolves
        assert apply(s, [], now=hub.clock.now()).cleared == 1
    with hub.sessions() as s:
        assert s.get(Ticket, cid).status == "resolved"  # type: ignore[union-attr]
    updates = hub.client.get(f"{V2}/servicerequestupdates.json").json()
    assert str(cid) not in {u["service_request_id"] for u in updates}
