"""The pole's renewed key and certificate on disk, swapped in one atomic step.

The bundle's files (``broker.cert_file``/``key_file``, under ``/etc/trygg``, read-only for
the agent) are the first credentials. Renewed ones live under ``<state_dir>/certs``::

    generations/<name>/device.key, device.crt   one folder per renewal (crt: leaf + CA)
    generations/<name>.pending/                 a renewal not yet proven on the broker
    current -> generations/<name>               the pair in use
    trust.crt                                   the CAs the pole trusts, once the hub
                                                sent them (a CA rollover); else the
                                                bundle's CA file

A key and its certificate are written and synced in their own folder before the
``current`` link is replaced by a rename, so a power cut at any moment leaves either the
old pair or the new one in force, never a key beside someone else's certificate. An
unfinished ``.pending`` folder is deleted at the next start.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from trygg.certs import Certificate, split_pem
from trygg.openssl import (
    OpensslError,
    new_key_and_request,
    public_key,
    read_certificate,
    verify_chain,
)

log = logging.getLogger(__name__)
KEY, CRT = "device.key", "device.crt"
KEEP = 2  # generations kept: the pair in use and the one before it
TRUST = "trust.crt"


class CertStoreError(RuntimeError):
    """A renewed certificate that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Credentials:
    cert: Path
    key: Path
    renewed: bool  # from the store, not the bundle


@dataclass(frozen=True, slots=True)
class Pending:
    folder: Path
    csr: str  # PEM, what the hub is asked to sign


class CertStore:
    def __init__(self, folder: Path, *, bundle: Credentials, ca_file: Path) -> None:
        self.folder = folder
        self.generations = folder / "generations"
        self.link = folder / "current"
        self.bundle = bundle
        self.bundle_ca = ca_file

    def trust_file(self) -> Path:
        """The CA file the pole verifies the broker and the hub's answers with."""
        path = self.folder / TRUST
        return path if path.exists() else self.bundle_ca

    def offered_trust(self, pending: Pending, offered: str) -> str | None:
        """The CA certificates the hub offers (``offered``, PEM) as the pole's new trust,
        checked against the chain already accepted into ``pending``, or None when they
        change nothing. Each one must be a self-signed CA that the pole trusts already, or
        one whose subject and key a certificate in that chain carries (the new root,
        cross-signed by a root the pole trusts); and the chain must verify with the new
        set alone, so the pole never takes a trust that would refuse its own certificate.
        CertStoreError, nothing kept, otherwise."""
        roots = split_pem(offered)
        if not roots:
            raise CertStoreError("the offered trust holds no certificate")
        current = self.trust_file().read_text()
        if sorted(roots) == sorted(split_pem(current)):
            return None
        work = pending.folder / "trust"
        work.mkdir(exist_ok=True)
        try:
            vouched = _identities(work, split_pem((pending.folder / CRT).read_text())[1:])
            known = set(split_pem(current))
            for i, root in enumerate(roots):
                path = work / f"root-{i}.crt"
                path.write_text(root)
                try:
                    verify_chain(path, path)  # self-signed, and valid now
                    identity = _identity(path)
                except OpensslError as exc:
                    raise CertStoreError(f"offered CA {i} unusable: {exc}") from exc
                if root not in known and identity not in vouched:
                    raise CertStoreError(
                        f"offered CA {identity[0]} is neither trusted nor vouched for"
                    )
            bundle = work / TRUST
            bundle.write_text("".join(roots))
            try:
                verify_chain(bundle, pending.folder / CRT)
            except OpensslError as exc:
                raise CertStoreError(
                    f"the offered trust refuses the new certificate: {exc}"
                ) from exc
            return bundle.read_text()
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def keep_trust(self, text: str) -> None:
        """Make ``text`` (checked by :meth:`offered_trust`) the pole's CA file, atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / (TRUST + ".new")
        tmp.write_text(text)
        _sync(tmp)
        tmp.replace(self.folder / TRUST)
        _sync(self.folder)

    def current(self) -> Credentials:
        """The renewed pair the ``current`` link points at, else the bundle's."""
        target = self.link.resolve() if self.link.is_symlink() else None
        if target is not None and (target / KEY).exists() and (target / CRT).exists():
            return Credentials(cert=target / CRT, key=target / KEY, renewed=True)
        return self.bundle

    def clean(self) -> None:
        """Delete renewals left unfinished (a crash, a power cut, a refused trial)."""
        for stale in self.generations.glob("*.pending"):
            shutil.rmtree(stale, ignore_errors=True)

    def prepare(self, common_name: str) -> Pending:
        """A new key (never leaves this folder) and the request for it."""
        self.generations.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        # named in the order they were made, which is the order pruning goes by
        folder = self.generations / f"{time.time_ns():020d}-{secrets.token_hex(3)}.pending"
        folder.mkdir(mode=0o700)
        csr = folder / "device.csr"
        new_key_and_request(folder / KEY, csr, common_name)
        text = csr.read_text()
        csr.unlink()
        return Pending(folder=folder, csr=text)

    def accept(self, pending: Pending, chain: str, *, ca_file: Path) -> Certificate:
        """Write the signed ``chain`` beside the pending key, once it leads to a CA in
        ``ca_file`` and carries this very key; CertStoreError (nothing kept) otherwise."""
        crt = pending.folder / CRT
        crt.write_text(chain)
        try:
            verify_chain(ca_file, crt)
            ours = public_key(crt) == public_key(pending.folder / KEY, private=True)
            facts = read_certificate(crt)
        except OpensslError as exc:
            crt.unlink(missing_ok=True)
            raise CertStoreError(f"unusable certificate: {exc}") from exc
        if not ours:
            crt.unlink(missing_ok=True)
            raise CertStoreError("the certificate is not for the key this pole made")
        _sync(crt, pending.folder / KEY, pending.folder)
        return facts

    def candidate(self, pending: Pending) -> Credentials:
        return Credentials(cert=pending.folder / CRT, key=pending.folder / KEY, renewed=True)

    def promote(self, pending: Pending) -> Credentials:
        """Make the pending pair the one in use (one rename), and drop old generations."""
        final = pending.folder.with_name(pending.folder.name.removesuffix(".pending"))
        pending.folder.rename(final)
        tmp = self.folder / "current.new"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(final.relative_to(self.folder))
        _sync(self.generations)
        tmp.replace(self.link)
        _sync(self.folder)
        self._prune(keep=final)
        return Credentials(cert=final / CRT, key=final / KEY, renewed=True)

    def discard(self, pending: Pending) -> None:
        shutil.rmtree(pending.folder, ignore_errors=True)

    def _prune(self, *, keep: Path) -> None:
        done = [p for p in self.generations.iterdir() if not p.name.endswith(".pending")]
        done.sort(key=lambda p: p.name, reverse=True)
        for old in [p for p in done if p != keep][KEEP - 1 :]:
            shutil.rmtree(old, ignore_errors=True)


def _identity(path: Path) -> tuple[str, str]:
    return read_certificate(path).subject, public_key(path)


def _identities(work: Path, pems: list[str]) -> set[tuple[str, str]]:
    """(subject, public key) of each certificate in ``pems``."""
    out = set()
    for i, pem in enumerate(pems):
        path = work / f"chain-{i}.crt"
        path.write_text(pem)
        try:
            out.add(_identity(path))
        except OpensslError:
            continue
    return out


def _sync(*paths: Path) -> None:
    """fsync files and folders, so what a rename makes visible is on the card."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
