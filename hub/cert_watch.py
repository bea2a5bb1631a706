"""The hub's certificate watch: reads every certificate and CRL it is pointed at, and keeps
one ``certificateExpiring`` ticket per item that is due (hub.rules.certificates decides).

What it reads: the hub's own broker CA and client certificate (HubSettings.mqtt_*), the
files and folders in ``cert_watch`` (``:``-separated), typically the provisioning's
``public/`` folder (CA, broker certificate, CRL, every device's certificate; no keys), and
every unrevoked certificate the hub's issuing CA signed (poles' renewals). Of several
certificates with one subject only the newest counts (:func:`hub.rules.certificates.in_force`),
so a pole's bundle certificate stops warning once the pole has renewed. An unreadable file
is logged and skipped; the next pass tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub import tickets as service
from hub.db import Alarm, Ticket
from hub.rules import alarms
from hub.rules.actions import Raise
from hub.rules.certificates import ALARM, Watched, review, title
from hub.settings import HubSettings
from trygg.clock import Clock
from trygg.openssl import OpensslError, read_certificate, read_crl
from trygg.pki import issuing_generations

log = logging.getLogger(__name__)

SUFFIXES = (".crt", ".pem", ".cer")


def watched_paths(settings: HubSettings) -> list[Path]:
    """The files and folders the hub watches, from its settings."""
    paths = [p for p in (settings.mqtt_ca_file, settings.mqtt_cert_file) if p is not None]
    paths += [Path(p) for p in settings.cert_watch.split(":") if p.strip()]
    return paths


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        elif path.exists():
            yield path
        else:
            log.warning("certificate watch: %s does not exist", path)


Stamp = tuple[int, int, int]  # inode, size, mtime_ns: a replaced or rewritten file differs


def scan(
    paths: Iterable[Path], cache: dict[Path, tuple[Stamp, Watched | None]] | None = None
) -> list[Watched]:
    """Every certificate and CRL in ``paths`` (files, or folders searched for .crt/.pem).
    With ``cache``, a file unchanged since the last pass is not read again (a fleet's
    certificates cost one openssl run each)."""
    out: list[Watched] = []
    seen: set[Path] = set()
    for path in _files(paths):
        seen.add(path)
        try:
            st = path.stat()
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
            hit = cache.get(path) if cache is not None else None
            item = hit[1] if hit is not None and hit[0] == stamp else _read(path)
            if cache is not None:
                cache[path] = (stamp, item)
        except (OSError, OpensslError) as exc:
            log.warning("certificate watch: %s unreadable: %s", path, exc)
            continue
        if item is not None:
            out.append(item)
    if cache is not None:
        for gone in set(cache) - seen:
            del cache[gone]
    return out


def _read(path: Path) -> Watched | None:
    head = path.read_text(errors="replace")[:4096]
    if "BEGIN X509 CRL" in head:
        crl = read_crl(path)
        return Watched("crl", crl.issuer, "", crl.last_update, crl.next_update, str(path))
    if "BEGIN CERTIFICATE" in head:
        c = read_certificate(path)
        return Watched("certificate", c.subject, c.serial, c.not_before, c.not_after, str(path))
    return None


@dataclass(frozen=True, slots=True)
class Pass:
    watched: int
    raised: int
    escalated: int
    cleared: int


def apply(s: Session, items: list[Watched], *, now: datetime) -> Pass:
    """Open, escalate and clear ``certificateExpiring`` alarms and tickets for ``items``."""
    active = {
        a.asset_id: a
        for a in s.scalars(select(Alarm).where(Alarm.type == ALARM, Alarm.active.is_(True)))
    }
    raised = escalated = cleared = 0
    for action in review(items, now=now, active=active):
        if not isinstance(action, Raise):
            alarms.clear_alarm(
                s, asset_id=action.asset, alarm_type=ALARM, now=now, hold=timedelta(0)
            )
            cleared += 1
            continue
        alarm = active.get(action.asset)
        if alarm is None:
            outcome = alarms.raise_alarm(
                s,
                asset_id=action.asset,
                alarm_type=ALARM,
                severity=action.severity,
                now=now,
                details=dict(action.details),
            )
            ticket = s.get(Ticket, outcome.ticket_id) if outcome.ticket_id else None
            if ticket is not None and outcome.created:
                d = action.details
                ticket.title = title(str(d["kind"]), str(d["subject"]), str(d["notAfter"]))
            raised += 1
        elif alarm.severity != action.severity and action.severity == "critical":
            _escalate(s, alarm, now=now, details=dict(action.details))
            escalated += 1
    return Pass(len(items), raised, escalated, cleared)


def _escalate(s: Session, alarm: Alarm, *, now: datetime, details: dict[str, object]) -> None:
    """A warning that became critical: the alarm and its open ticket get the new priority
    (history action ``severity``: ``escalate`` is the SLA's, hub.webhooks)."""
    alarm.severity, alarm.last_at, alarm.details = "critical", now, details
    ticket = s.get(Ticket, alarm.ticket_id) if alarm.ticket_id else None
    if ticket is None or ticket.status not in service.OPEN_STATUSES:
        return
    before = ticket.status
    ticket.severity = "critical"
    ticket.priority = service.PRIORITY["critical"]
    ticket.sla_due = now + service.SLA[ticket.priority]
    ticket.updated_at = now
    service.record(
        s,
        ticket,
        at=now,
        actor=alarms.ACTOR,
        action="severity",
        before=before,
        note=f"warning -> critical: {details.get('daysLeft')} days left",
    )


class CertWatch:
    """Checks every ``every_s`` (and at start); one pass never stops the hub."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        clock: Clock,
        paths: list[Path],
        every_s: float,
        issuing: Path | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.paths = paths
        self.every_s = every_s
        self.issuing = issuing
        self.passes = 0
        self._cache: dict[Path, tuple[Stamp, Watched | None]] = {}

    @classmethod
    def from_settings(
        cls, settings: HubSettings, *, sessions: sessionmaker[Session], clock: Clock
    ) -> CertWatch:
        return cls(
            sessions=sessions,
            clock=clock,
            paths=watched_paths(settings),
            every_s=settings.cert_check_s,
            issuing=Path(settings.cert_issuing_dir) if settings.cert_issuing_dir else None,
        )

    def signed(self) -> list[Path]:
        """Every unrevoked certificate the hub's issuing CA (and, during a CA rollover,
        the next one) signed."""
        if self.issuing is None:
            return []
        found: list[Path] = []
        for pki in issuing_generations(self.issuing):
            for paths in pki.issued().values():
                found.extend(paths)
        return found

    def check(self) -> Pass:
        items = scan([*self.paths, *self.signed()], self._cache)
        with self.sessions.begin() as s:
            result = apply(s, items, now=self.clock.now())
        self.passes += 1
        if result.raised or result.escalated or result.cleared:
            log.info("certificate watch: %s", result)
        return result

    async def run(self, stop: asyncio.Event) -> None:
        if not self.paths and self.issuing is None:
            log.info("certificate watch: nothing to watch (set TRYGG_CERT_WATCH)")
            return
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.check)
            except Exception as exc:  # noqa: BLE001 - a bad pass must not stop the hub
                log.warning("certificate watch failed, retrying: %s: %s", type(exc).__name__, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every_s)
