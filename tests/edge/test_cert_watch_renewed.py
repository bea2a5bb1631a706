"""The hub's certificate ticket follows the certificate a pole uses: the bundle's copy
in public/ stays on disk after the pole renewed itself through the hub, yet its ticket
resolves at the next check, and the renewed certificate (read from the issuing CA's
records) is the one watched from then on. Real openssl, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from edge.provision import Provisioner
from hub.cert_watch import CertWatch
from hub.db import Ticket, open_database
from tests.edge.secure import fleet_files, lamp_assets
from trygg.clock import FakeClock
from trygg.openssl import new_key_and_request

pytestmark = pytest.mark.integration
DAY = timedelta(days=1)


@pytest.fixture
def sessions(sql_url: str) -> Iterator[sessionmaker[Session]]:
    made = open_database(sql_url)
    yield made
    made.kw["bind"].dispose()


def _tickets(sessions: sessionmaker[Session]) -> dict[str, Ticket]:
    with sessions() as s:
        q = select(Ticket).where(Ticket.kind == "certificateExpiring")
        return {t.evidence["readings"][0]["subject"]: t for t in s.scalars(q)}


def test_the_bundle_copy_stops_warning_once_the_pole_renewed_through_the_hub(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    start = datetime.now(UTC) - 800 * DAY  # the bundle's 825 days end in 25 days
    fleet_files(tmp_path / "fw", {"pole-a": lamp_assets("pole-a")})
    prov = Provisioner(config_dir=tmp_path / "fw", secrets_dir=tmp_path / "pki")
    prov.device("pole-a", now=start)
    prov.issuing_ca(now=start)
    clock = FakeClock(datetime.now(UTC))
    watch = CertWatch(
        sessions=sessions,
        clock=clock,
        paths=[prov.secrets / "public"],
        every_s=3600,
        issuing=prov.issuing.folder,
    )
    watch.check()
    ticket = _tickets(sessions)["CN=pole-a"]
    assert ticket.status == "new"
    assert (prov.secrets / "public/devices/pole-a.crt").exists()

    # the pole renews itself: the hub signs what it asks for, as hub.cert_signer does
    new_key_and_request(tmp_path / "pole.key", tmp_path / "pole.csr", "pole-a")
    prov.issuing.sign_request(
        tmp_path / "pole.csr", common_name="pole-a", now=clock.now(), lifetime=365 * DAY
    )
    clock.advance(3600)
    result = watch.check()
    assert result.cleared == 1
    assert _tickets(sessions)["CN=pole-a"].status == "resolved"
    assert (prov.secrets / "public/devices/pole-a.crt").exists()  # still there, now ignored

    # the renewed certificate is watched in its turn: near its own end, a new ticket
    clock.advance((350 * DAY).total_seconds())
    assert watch.check().raised >= 1
    with sessions() as s:
        q = select(Ticket).where(Ticket.kind == "certificateExpiring", Ticket.status == "new")
        pole = [t for t in s.scalars(q) if t.evidence["readings"][0]["subject"] == "CN=pole-a"]
    assert len(pole) == 1
    assert pole[0].evidence["readings"][0]["serial"] != ticket.evidence["readings"][0]["serial"]
