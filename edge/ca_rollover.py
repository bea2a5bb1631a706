"""Rolling the fleet CA (and the issuing CA under it) over to new ones, with an overlap.

``start`` makes the next fleet CA (``ca/next``) and the next issuing CA under it
(``issuing/next``), has the old fleet CA cross-sign the next one, and makes every trust
bundle carry both: the broker's CA file, the one new bundles hold, and the CAs the hub
sends poles with their certificates (``issuing/trust.crt``). From then on the hub signs
with the next issuing CA, and its chain ends with the cross-signed certificate, so a pole
that trusts only the old CA can check the new chain and the new CA with it; each pole
keeps the new trust with its new certificate. The hub asks every registered pole to renew
now (``renew_certificate``), so the fleet moves within hours, not at each pole's own date.

``status`` lists the poles without a certificate from the next CAs yet. ``finish`` (once
that list is empty, or with ``force``) makes the next CAs the CAs, keeps the old ones under
``retired/``, re-issues the broker's certificate with the new CA and leaves only the new
CA in every trust bundle: from then on the old CA's certificates are refused.
"""

from __future__ import annotations

import logging
import shutil
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from edge.config import ConfigError, load_fleet
from edge.provision import PENDING, Provisioner, ProvisionError
from trygg.certs import Certificate, common_name
from trygg.pki import CHAIN, NEXT, TRUST, Pki

log = logging.getLogger(__name__)
CROSS = "cross.crt"  # the next fleet CA, signed by the old one
# The compose stack's broker reloads within a minute of a change; `maintain` lets the hub
# sign with the next CA once the files have been in place this long.
ACTIVATE_AFTER = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class RolloverStatus:
    under_way: bool
    current: Certificate | None  # the fleet CA now
    upcoming: Certificate | None  # the next one, during a rollover
    moved: tuple[str, ...]  # poles with a certificate from the next CAs
    missing: tuple[str, ...]  # poles without one yet

    def lines(self) -> list[str]:
        out = []
        if self.current is not None:
            out.append(f"fleet CA: {self.current.subject}, until {self.current.not_after:%Y-%m-%d}")
        if not self.under_way:
            out.append("no rollover under way")
            return out
        assert self.upcoming is not None
        out.append(
            f"next fleet CA: {self.upcoming.subject}, until {self.upcoming.not_after:%Y-%m-%d}"
        )
        total = len(self.moved) + len(self.missing)
        out.append(f"poles on the next CA: {len(self.moved)} of {total}")
        out.extend(f"not yet: {d}" for d in self.missing)
        return out


def _stamp(now: datetime) -> str:
    return f"{now:%Y-%m-%dT%H%M%S}"


def start(p: Provisioner, *, now: datetime) -> RolloverStatus:
    """Make the next CAs and put them in every trust bundle; the hub does not sign with
    them before :func:`activate`. ProvisionError when there is no fleet or issuing CA (a
    pole moves by renewing through the hub). Idempotent while a rollover is under way."""
    if not p.pki.exists():
        raise ProvisionError(f"no fleet CA in {p.pki.folder}: nothing to roll over")
    if not p.issuing.exists():
        raise ProvisionError(
            "a rollover needs the issuing CA (poles move by renewing through the hub): "
            "run `trygg provision issuing-ca` and point the hub at it first"
        )
    root = p.pki.next
    pending = p.issuing_pending
    if p.issuing.next.exists():
        return status(p)
    if not root.exists():
        root.ensure_ca(now=now, name=f"Trygg fleet CA {_stamp(now)}")
    if not (root.folder / CROSS).exists():
        (root.folder / CROSS).write_text(p.pki.cross_sign(root, now=now))
    if not pending.exists():
        shutil.rmtree(pending.folder, ignore_errors=True)
        pending.ensure_issuing(root, now=now, name=f"Trygg issuing CA {_stamp(now)}")
    (pending.folder / CHAIN).write_text((root.folder / CROSS).read_text())
    _write(p.issuing.folder / TRUST, p.trust_text())
    _share_like(p.issuing.folder, pending.folder)
    p.broker(now=now)  # the broker's CA file and CRLs: both CAs
    log.info("CA rollover started: next fleet CA in %s", root.folder)
    return status(p)


def activate(p: Provisioner, *, now: datetime | None = None) -> bool:
    """Let the hub sign with the next issuing CA; True when it did so now. Call it once the
    broker has reloaded the files :func:`start` wrote (it must trust the next CA before a
    pole presents a certificate from it). With ``now``, only once :func:`start` is
    ``ACTIVATE_AFTER`` old (what ``maintain`` does)."""
    pending = p.issuing.folder / PENDING
    if not (pending / "ca.crt").exists() or p.issuing.next.folder.exists():
        return False
    if now is not None:
        made = datetime.fromtimestamp((pending / "ca.crt").stat().st_mtime, tz=now.tzinfo)
        if now - made < ACTIVATE_AFTER:
            return False
    pending.rename(p.issuing.next.folder)
    log.info("CA rollover: the hub now signs with the next issuing CA")
    return True


def status(p: Provisioner) -> RolloverStatus:
    """Where the rollover stands: which provisioned poles hold a certificate from the next
    CAs (renewed through the hub, or a bundle made during the overlap)."""
    current = Pki.certificate(p.pki.ca_crt) if p.pki.exists() else None
    if not p.pki.next.exists():
        return RolloverStatus(False, current, None, (), ())
    moved_names = set(p.pki.next.issued()) | set(p.issuing.next.issued())
    poles = _poles(p)
    moved = tuple(d for d in poles if d in moved_names)
    missing = tuple(d for d in poles if d not in moved_names)
    return RolloverStatus(True, current, Pki.certificate(p.pki.next.ca_crt), moved, missing)


def _poles(p: Provisioner) -> list[str]:
    """Provisioned, unrevoked poles (those the broker lets in)."""
    try:
        fleet = load_fleet(p.config_dir)
    except ConfigError as exc:
        raise ProvisionError(str(exc)) from exc
    revoked = p.revoked()
    return sorted(
        c.id
        for c in fleet
        if c.id not in revoked and (p.secrets / "devices" / c.id / "password").exists()
    )


def finish(p: Provisioner, *, now: datetime, force: bool = False) -> RolloverStatus:
    """Retire the old CAs: the next ones take their place, the broker gets a certificate
    from the new CA, and every trust bundle holds the new CA only. ProvisionError, nothing
    changed, while poles lack a certificate from the next CA (unless ``force``: they are
    then locked out until they get a new bundle)."""
    before = status(p)
    if not before.under_way:
        raise ProvisionError("no CA rollover is under way (run `ca-rollover start` first)")
    if not p.issuing.next.exists():
        raise ProvisionError(
            "the hub does not sign with the next CA yet: run `ca-rollover activate` once "
            "the broker has reloaded, and let the poles move"
        )
    if before.missing and not force:
        raise ProvisionError(
            f"{len(before.missing)} pole(s) have no certificate from the next CA yet: "
            + ", ".join(before.missing[:20])
            + (" ..." if len(before.missing) > 20 else "")
            + "; wait for them, or pass --force to lock them out until they get a new bundle"
        )
    retired = p.secrets / "retired" / _stamp(now)
    broker_name = common_name(Pki.certificate(p.secrets / "broker" / "broker.crt").subject)
    _promote(p.pki.folder, retired / "ca", keep=())
    (p.pki.folder / CROSS).unlink(missing_ok=True)
    _promote(p.issuing.folder, retired / "issuing", keep=(TRUST,))
    (p.issuing.folder / CHAIN).unlink(missing_ok=True)  # every pole left trusts the new CA
    _write(p.issuing.folder / TRUST, p.trust_text())
    old_broker = p.secrets / "broker" / "broker.crt"
    if old_broker.exists():
        shutil.copy(old_broker, retired / "broker.crt")
    p.issue_broker(now=now, host=broker_name)
    p.broker(now=now)
    log.info("CA rollover finished: the old CAs are kept in %s", retired)
    return RolloverStatus(False, Pki.certificate(p.pki.ca_crt), None, before.moved, before.missing)


def _share_like(parent: Path, folder: Path) -> None:
    """Give ``folder`` the group access ``parent`` has when ``parent`` is shared with a
    group (set-group-id, as deploy/make-secrets.sh leaves the issuing CA for the hub's
    container): the hub must read the next CA's key and record what it signs."""
    if not parent.stat().st_mode & stat.S_ISGID:
        return
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        extra = stat.S_IRGRP | stat.S_IWGRP
        if path.is_dir():
            extra |= stat.S_IXGRP | stat.S_ISGID
        path.chmod(stat.S_IMODE(mode) | extra)


def _promote(folder: Path, archive: Path, *, keep: tuple[str, ...]) -> None:
    """Move the CA in ``folder`` to ``archive`` and ``folder/next``'s files in its place,
    leaving the folder itself (a mount point) where it is."""
    archive.mkdir(parents=True, exist_ok=True)
    for item in sorted(folder.iterdir()):
        if item.name not in (NEXT, PENDING, *keep):
            shutil.move(str(item), archive / item.name)
    upcoming = folder / NEXT
    for item in sorted(upcoming.iterdir()):
        item.rename(folder / item.name)
    upcoming.rmdir()


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(0o644)
    tmp.replace(path)
