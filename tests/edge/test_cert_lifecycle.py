"""Certificates and the CRL over months and years, against the real OpenSSL and Mosquitto.

Time moves through ``now``: the fleet is provisioned "N days ago" (every date the CA writes
comes from the ``now`` it is given), the daily timer's ``trygg provision crl`` and the hub's
certificate watch run once per simulated day, and at the end the real Mosquitto checks the
resulting files at the real now. Without the timer the CRL lapses after 30 days and the
broker refuses every pole; with it, and with the renewals the hub's tickets ask for, the
poles stay connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from edge.provision import Provisioner, ProvisionError
from hub.cert_watch import CertWatch
from hub.db import Ticket, TicketHistory, open_database
from tests.edge.secure import fleet_files, lamp_assets
from tests.needs import unavailable
from trygg.clock import FakeClock
from trygg.mqtt import Connection, MqttError, MqttSettings
from trygg.stack import BrokerAuth, LocalStack, StackError, StackPorts, free_port

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)
TRYGG = str(Path(sys.executable).with_name("trygg"))


@dataclass
class Fleet:
    """A provisioned fleet, the hub's certificate watch on its public/ folder, and what
    each pole has installed (a copy of its bundle's certificate and key)."""

    tmp: Path
    prov: Provisioner
    watch: CertWatch
    clock: FakeClock
    installed: dict[str, Path] = field(default_factory=dict)

    def install(self, device: str, label: str) -> Path:
        """Copy the device's current key and certificate, as unpacking its bundle would."""
        src = self.prov.secrets / "devices" / device
        dest = self.tmp / "poles" / f"{device}-{label}"
        dest.mkdir(parents=True)
        for suffix in (".crt", ".key"):
            shutil.copy(src / f"{device}{suffix}", dest / f"pole{suffix}")
        self.installed[device] = dest
        return dest

    def tickets(self) -> list[Ticket]:
        with self.watch.sessions() as s:
            q = select(Ticket).where(Ticket.kind == "certificateExpiring").order_by(Ticket.id)
            return list(s.scalars(q))

    def history(self, ticket_id: int) -> dict[str, datetime]:
        with self.watch.sessions() as s:
            rows = s.scalars(select(TicketHistory).where(TicketHistory.ticket_id == ticket_id))
            return {h.action: h.at.replace(tzinfo=UTC) for h in rows}


@contextlib.contextmanager
def fleet(tmp: Path, devices: list[str], *, start: datetime) -> Iterator[Fleet]:
    config = tmp / "firmware-config"
    fleet_files(config, {d: lamp_assets(d) for d in devices})
    prov = Provisioner(config_dir=config, secrets_dir=tmp / "secrets")
    for device in devices:
        prov.device(device, now=start)
    clock = FakeClock(start)
    sessions = open_database(f"sqlite:///{tmp / 'hub.sqlite'}")
    watch = CertWatch(sessions=sessions, clock=clock, paths=[prov.secrets / "public"], every_s=3600)
    f = Fleet(tmp, prov, watch, clock)
    for device in devices:
        f.install(device, "v1")
    try:
        yield f
    finally:
        sessions.kw["bind"].dispose()


def live(f: Fleet, start: datetime, days: int, operator: Callable[[Fleet, datetime], None]) -> None:
    """``days`` simulated days: the daily timer re-signs the CRL when due, the hub's watch
    checks every certificate, the operator acts on what the tickets say."""
    for d in range(1, days + 1):
        now = start + d * DAY
        f.prov.crl(now=now)
        f.clock.set(now)
        f.watch.check()
        operator(f, now)


def nobody(f: Fleet, now: datetime) -> None:
    return None


@dataclass
class Broker:
    stack: LocalStack
    port: int
    cafile: Path
    pid_file: Path

    def hup(self) -> None:
        assert self.stack.mosquitto.pid is not None
        os.kill(self.stack.mosquitto.pid, 1)


@contextlib.contextmanager
def broker(f: Fleet) -> Iterator[Broker]:
    """The real Mosquitto on the provisioned files (TLS, client certificates, CRL)."""
    files = f.prov.broker()
    port = free_port()
    auth = BrokerAuth(
        password_file=files.passwd,
        acl_file=files.acl,
        cafile=files.cafile,
        certfile=files.certfile,
        keyfile=files.keyfile,
        crlfile=files.crlfile,
        tls_port=port,
    )
    stack = LocalStack(
        state_dir=f.tmp / "stack",
        ports=StackPorts(mqtt=free_port(), influx=free_port(), influx_rpc=free_port()),
        auth=auth,
    )
    stack.write_config()
    try:
        stack.mosquitto.start()
    except StackError as exc:
        unavailable(f"mosquitto could not start: {exc}")
    pid_file = f.tmp / "mosquitto.pid"
    pid_file.write_text(f"{stack.mosquitto.pid}\n")
    try:
        yield Broker(stack, port, files.cafile, pid_file)
    finally:
        stack.mosquitto.stop()


async def connects(b: Broker, device: str, pole: Path) -> bool:
    """Does the broker accept this pole's TLS client certificate (and let it publish)?"""
    settings = MqttSettings(
        host="127.0.0.1",
        port=b.port,
        client_id=device,
        ca_file=b.cafile,
        cert_file=pole / "pole.crt",
        key_file=pole / "pole.key",
        keepalive_s=10,
    )
    try:
        async with Connection(settings) as conn:
            return await conn.publish_nowait(f"trygg/v1/dev/{device}/data", b"{}") < 0x80
    except MqttError:
        return False


def cli(f: Fleet, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TRYGG, "provision", *args, "--secrets", str(f.prov.secrets),
         "--config-dir", str(f.prov.config_dir)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def real_now() -> datetime:
    return datetime.now(UTC)


async def test_day_31_the_lapsed_crl_locks_every_pole_out_and_the_timer_command_lets_them_back(
    tmp_path: Path,
) -> None:
    start = real_now() - 31 * DAY
    with fleet(tmp_path, ["pole-a", "pole-b"], start=start) as f, broker(f) as b:
        # nobody re-signed the CRL for 31 days: Mosquitto refuses every certificate
        assert not await connects(b, "pole-a", f.installed["pole-a"])
        assert not await connects(b, "pole-b", f.installed["pole-b"])
        # what the timer runs: re-signs (the CRL is expired) and sends the broker SIGHUP
        out = cli(f, "crl", "--hup-pid-file", str(b.pid_file))
        assert out.returncode == 0, out.stderr
        assert "re-signed" in out.stdout
        assert "SIGHUP" in out.stdout
        assert await connects(b, "pole-a", f.installed["pole-a"])
        assert await connects(b, "pole-b", f.installed["pole-b"])
        # a second run the same day changes nothing and signals nobody
        again = cli(f, "crl", "--hup-pid-file", str(b.pid_file))
        assert again.returncode == 0, again.stderr
        assert "still fresh" in again.stdout
        assert "SIGHUP" not in again.stdout
        assert b.stack.mosquitto.running()


async def test_day_400_the_timer_kept_the_crl_fresh_and_a_renewal_overlaps_then_retires(
    tmp_path: Path,
) -> None:
    start = real_now() - 400 * DAY - timedelta(hours=2)
    with fleet(tmp_path, ["pole-a"], start=start) as f:
        crls = set()

        def watch_crl(f: Fleet, now: datetime) -> None:
            crls.add(f.prov.pki.current_crl())

        live(f, start, 400, watch_crl)
        # re-signed about every 15 days, never a ticket: nothing came near its end
        assert 24 <= len(crls) <= 28
        assert f.tickets() == []
        with broker(f) as b:
            old = f.installed["pole-a"]
            assert await connects(b, "pole-a", old)
            out = cli(f, "renew", "pole-a")
            assert out.returncode == 0, out.stderr
            new = f.install("pole-a", "v2")
            assert (new / "pole.crt").read_text() != (old / "pole.crt").read_text()
            # the overlap: the old certificate and the new one both connect
            assert await connects(b, "pole-a", old)
            assert await connects(b, "pole-a", new)
            out = cli(f, "retire", "pole-a", "--hup-pid-file", str(b.pid_file))
            assert out.returncode == 0, out.stderr
            assert not await connects(b, "pole-a", old)
            assert await connects(b, "pole-a", new)


async def test_day_900_tickets_warned_at_30_and_7_days_and_renewal_kept_the_pole_connected(
    tmp_path: Path,
) -> None:
    start = real_now() - 900 * DAY - timedelta(hours=2)
    acted: dict[str, datetime] = {}

    def operator(f: Fleet, now: datetime) -> None:
        """Renews pole-a three days after its warning and retires the old certificate two
        days later; renews the broker only once its ticket turned critical; forgets
        pole-b."""
        for t in f.tickets():
            ev = t.evidence["readings"][0]
            subject, critical = ev["subject"], t.severity == "critical"
            opened = t.created_at.replace(tzinfo=UTC)
            if subject == "CN=pole-a" and "renew" not in acted and now - opened >= 3 * DAY:
                f.prov.renew("pole-a", now=now)
                f.install("pole-a", "v2")
                acted["renew"] = now
            if subject == "CN=localhost" and critical and "broker" not in acted:
                f.prov.renew_broker(now=now)
                acted["broker"] = now
        if "renew" in acted and "retire" not in acted and now - acted["renew"] >= 2 * DAY:
            assert f.prov.retire("pole-a", now=now)
            acted["retire"] = now

    with fleet(tmp_path, ["pole-a", "pole-b"], start=start) as f:
        old_a = f.installed["pole-a"]
        expires = start - timedelta(hours=1) + 825 * DAY  # certificates start an hour early
        live(f, start, 900, operator)
        tickets = {t.evidence["readings"][0]["subject"]: t for t in f.tickets()}
        assert set(tickets) == {"CN=pole-a", "CN=pole-b", "CN=localhost"}  # never the CRL
        for subject, t in tickets.items():
            opened = f.history(t.id)["open"]
            # the first daily check inside the 30 days before expiry
            assert expires - 30 * DAY <= opened < expires - 29 * DAY, subject
            assert "pole" in t.title or "localhost" in t.title
        b_hist = f.history(tickets["CN=pole-b"].id)
        assert expires - 7 * DAY <= b_hist["severity"] < expires - 6 * DAY
        assert tickets["CN=pole-b"].status == "new"  # still open: nobody renewed it
        assert tickets["CN=pole-b"].severity == "critical"
        assert tickets["CN=localhost"].status == "resolved"  # renewed at critical
        assert acted["broker"] - f.history(tickets["CN=localhost"].id)["severity"] < DAY
        assert tickets["CN=pole-a"].status == "resolved"  # renewed
        assert tickets["CN=pole-a"].severity == "warning"
        # resolved by the first check after the renewal: the superseded certificate still in
        # public/ until it is retired is not the one the pole uses
        assert f.history(tickets["CN=pole-a"].id)["auto_resolve"] == acted["renew"] + DAY

        with broker(f) as b:
            assert await connects(b, "pole-a", f.installed["pole-a"])  # renewed: connected
            assert not await connects(b, "pole-a", old_a)  # retired
            assert not await connects(b, "pole-b", f.installed["pole-b"])  # expired
        # renewing pole-b now brings it back (its old certificate expired, not revoked)
        f.prov.renew("pole-b")
        with broker(f) as b:
            assert await connects(b, "pole-b", f.install("pole-b", "v2"))


def test_renew_and_retire_refuse_what_they_cannot_do(tmp_path: Path) -> None:
    with fleet(tmp_path, ["pole-a"], start=real_now()) as f:
        with pytest.raises(ProvisionError, match="never provisioned"):
            f.prov.renew("pole-x")
        assert f.prov.retire("pole-a") == []  # nothing superseded
        before = f.prov.pki.current_crl()
        status = f.prov.crl()
        assert not status.resigned
        assert f.prov.pki.current_crl() == before
        assert f.prov.crl(force=True).resigned
    empty = Provisioner(config_dir=tmp_path / "none", secrets_dir=tmp_path / "nothing")
    with pytest.raises(ProvisionError, match="no CA"):
        empty.crl()
    assert not (tmp_path / "nothing").exists()  # the timer never creates a CA


def test_renew_broker_keeps_the_brokers_name_and_revokes_the_old_certificate(
    tmp_path: Path,
) -> None:
    config = tmp_path / "firmware-config"
    fleet_files(config, {})
    named = Provisioner(
        config_dir=config, secrets_dir=tmp_path / "s", broker_host="mqtt.solna.example"
    )
    files = named.broker()
    old = named.pki.certificate(files.certfile)
    # an admin who forgot --broker-host: the renewal still carries the broker's name
    plain = Provisioner(config_dir=config, secrets_dir=tmp_path / "s")
    plain.renew_broker()
    new = plain.pki.certificate(files.certfile)
    assert new.subject == old.subject == "CN=mqtt.solna.example"
    assert new.serial != old.serial
    assert old.serial in plain.pki.revoked_serials()
    assert new.serial not in plain.pki.revoked_serials()
    public = (tmp_path / "s" / "public" / "broker.crt").read_text()
    assert public == files.certfile.read_text()


async def test_the_watch_runs_in_the_hubs_task_group_and_skips_what_it_cannot_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    start = real_now() - 800 * DAY  # the certificates have 25 days left
    with fleet(tmp_path, ["pole-a"], start=start) as f:
        f.prov.crl(now=real_now())
        public = f.prov.secrets / "public"
        (public / "devices" / "broken.crt").write_text(
            "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"
        )
        (public / "devices" / "notes.pem").write_text("neither a certificate nor a CRL\n")
        f.clock.set(real_now())
        f.watch.every_s = 0.05
        stop = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(f.watch.run(stop))
            for _ in range(400):  # the passes run in a worker thread: poll its counter
                if f.watch.passes >= 2 or task.done():
                    break
                await asyncio.sleep(0.05)
            stop.set()
        assert f.watch.passes >= 2
        subjects = sorted(t.evidence["readings"][0]["subject"] for t in f.tickets())
        assert subjects == ["CN=localhost", "CN=pole-a"]  # not the CA, not the fresh CRL
        assert all(t.severity == "warning" for t in f.tickets())
        assert "broken.crt unreadable" in caplog.text
        # a second pass opened nothing twice
        assert len(f.tickets()) == 2
