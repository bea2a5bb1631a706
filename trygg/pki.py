"""A certificate authority folder, through ``openssl ca`` (run by ``trygg.openssl``): the
fleet's root CA, and the issuing CA under it with which the hub signs poles' renewals.

Every operation takes ``now``: the dates written into certificates and CRLs come from it,
not from the machine's clock, so tests can issue a fleet "as it was N days ago" and check
it against the real OpenSSL and Mosquitto today. Keys are EC P-256 (small, fast TLS
handshakes on a Pi over a mobile link).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from trygg.certs import Certificate, Crl, common_name, openssl_time
from trygg.openssl import OpensslError, new_key_and_request, read_certificate, read_crl, run

CA_DAYS: Final = 3650
CERT_DAYS: Final = 825
CRL_DAYS: Final = 30
# The issuing CA outlives every certificate it signs by far, and is renewed by
# ``trygg provision maintain`` once a third of its life is left.
ISSUING_DAYS: Final = 1826
# A new certificate starts a little before ``now``, so a pole whose clock lags accepts it.
BACKDATE: Final = timedelta(hours=1)

PkiError = OpensslError  # the name callers catch; openssl's own errors
# During a CA rollover the next CA lives in this subfolder of the one it replaces, so a
# mount of the issuing CA's folder (the hub's) carries the next one too.
NEXT: Final = "next"
# Certificates between this CA and a root that not every pole trusts yet (the next root,
# cross-signed by the old one), sent after the CA's own certificate in every chain.
CHAIN: Final = "chain.crt"
TRUST: Final = "trust.crt"  # the root certificates poles should trust, in an issuing CA


def _ca_conf(ca: Path) -> Path:
    """The ``openssl ca`` config, rewritten whenever the folder's path differs from the one in
    it (the same CA folder is mounted at another path in the renewer's container)."""
    conf = ca / "openssl.cnf"
    text = f"""[ ca ]
default_ca = trygg

[ trygg ]
dir = {ca.resolve()}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate = $dir/ca.crt
private_key = $dir/ca.key
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = {CERT_DAYS}
default_crl_days = {CRL_DAYS}
policy = any
unique_subject = no
# the hub signs what a pole asks for with our extensions only, never the request's
copy_extensions = none

[ any ]
commonName = supplied
"""
    if not conf.exists() or conf.read_text() != text:
        conf.write_text(text)
    return conf


class Pki:
    """A CA under ``folder`` (``ca.key``, ``ca.crt``, index, CRL)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ca_key = folder / "ca.key"
        self.ca_crt = folder / "ca.crt"
        self.crl = folder / "crl.pem"

    def exists(self) -> bool:
        return self.ca_crt.exists() and self.ca_key.exists()

    @property
    def next(self) -> Pki:
        """The CA that replaces this one during a rollover (it may not exist)."""
        return Pki(self.folder / NEXT)

    def ensure_ca(self, *, now: datetime, name: str = "Trygg fleet CA") -> None:
        """Create the CA (once), valid from ``now`` for CA_DAYS, and an empty CRL."""
        if self.ca_crt.exists():
            return
        csr, ext = self._new_ca_request(name, pathlen=None)
        run(
            "ca", "-batch", "-selfsign", "-config", str(_ca_conf(self.folder)),
            "-keyfile", str(self.ca_key), "-in", str(csr), "-out", str(self.ca_crt),
            "-startdate", openssl_time(now - BACKDATE),
            "-enddate", openssl_time(now + timedelta(days=CA_DAYS)),
            "-extfile", str(ext), "-extensions", "ext", "-notext",
        )  # fmt: skip
        csr.unlink()
        ext.unlink()
        self.update_crl(now=now)

    def ensure_issuing(
        self,
        parent: Pki,
        *,
        now: datetime,
        name: str = "Trygg issuing CA",
        lifetime: timedelta = timedelta(days=ISSUING_DAYS),
    ) -> bool:
        """Create this folder as an issuing CA signed by ``parent`` (once); True when it was
        created now. It may sign end certificates only (``pathlen:0``)."""
        if self.ca_crt.exists():
            return False
        csr, ext = self._new_ca_request(name, pathlen=0)
        tmp = self.ca_crt.with_name("ca.crt.new")
        run(
            "ca", "-batch", "-config", str(_ca_conf(parent.folder)),
            "-in", str(csr), "-out", str(tmp),
            "-startdate", openssl_time(now - BACKDATE),
            "-enddate", openssl_time(now + lifetime),
            "-extfile", str(ext), "-extensions", "ext", "-notext",
        )  # fmt: skip
        csr.unlink()
        ext.unlink()
        tmp.replace(self.ca_crt)
        self.update_crl(now=now)
        return True

    def cross_sign(self, other: Pki, *, now: datetime) -> str:
        """``other``'s root certificate (its subject, its key) signed by this CA, PEM: what
        lets a pole that trusts only this CA verify a chain that leads to ``other``."""
        facts = read_certificate(other.ca_crt)
        csr, ext = other.folder / "cross.csr", other.folder / "cross-ext.cnf"
        out = other.folder / "cross.crt.new"
        subject = f"/CN={common_name(facts.subject)}"
        run("req", "-new", "-key", str(other.ca_key), "-subj", subject, "-out", str(csr))
        ext.write_text(
            "[ext]\nbasicConstraints=critical,CA:TRUE\n"
            "keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n"
        )
        mine = read_certificate(self.ca_crt)
        try:
            run(
                "ca", "-batch", "-config", str(_ca_conf(self.folder)),
                "-in", str(csr), "-out", str(out),
                "-startdate", openssl_time(now - BACKDATE),
                "-enddate", openssl_time(min(facts.not_after, mine.not_after)),
                "-extfile", str(ext), "-extensions", "ext", "-notext",
            )  # fmt: skip
            return out.read_text()
        finally:
            for path in (csr, ext, out):
                path.unlink(missing_ok=True)

    def _new_ca_request(self, name: str, *, pathlen: int | None) -> tuple[Path, Path]:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "newcerts").mkdir(exist_ok=True)
        (self.folder / "index.txt").touch()
        (self.folder / "serial").write_text("1000\n")
        (self.folder / "crlnumber").write_text("1000\n")
        csr, ext = self.folder / "ca.csr", self.folder / "ca-ext.cnf"
        new_key_and_request(self.ca_key, csr, name)
        limit = "" if pathlen is None else f",pathlen:{pathlen}"
        ext.write_text(
            f"[ext]\nbasicConstraints=critical,CA:TRUE{limit}\n"
            "keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n"
        )
        return csr, ext

    def issue(
        self,
        out: Path,
        common_name: str,
        *,
        now: datetime,
        server: bool = False,
        sans: tuple[str, ...] = (),
        lifetime: timedelta = timedelta(days=CERT_DAYS),
    ) -> tuple[Path, Path]:
        """A new key and a CA-signed certificate for ``common_name`` in folder ``out``,
        valid from ``now`` for ``lifetime`` (replacing the key and certificate there)."""
        out.mkdir(parents=True, exist_ok=True)
        key, csr, crt = out / f"{out.name}.key", out / f"{out.name}.csr", out / f"{out.name}.crt"
        new_key = key.with_name(key.name + ".new")
        new_key_and_request(new_key, csr, common_name)
        new_crt = crt.with_name(crt.name + ".new")
        self._sign(csr, new_crt, now=now, lifetime=lifetime, server=server, sans=sans)
        csr.unlink()
        # key first: a certificate never sits beside a key it does not belong to for long
        new_key.replace(key)
        new_crt.replace(crt)
        return key, crt

    def _sign(
        self,
        csr: Path,
        out: Path,
        *,
        now: datetime,
        lifetime: timedelta,
        server: bool = False,
        sans: tuple[str, ...] = (),
        subject: str | None = None,
    ) -> None:
        ext = out.with_name(out.name + ".ext")
        lines = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature"]
        lines.append(f"extendedKeyUsage={'serverAuth' if server else 'clientAuth'}")
        if sans:
            lines.append("subjectAltName=" + ",".join(sans))
        ext.write_text("[ext]\n" + "\n".join(lines) + "\n")
        override = ["-subj", subject] if subject else []
        try:
            run(
                "ca", "-batch", "-config", str(_ca_conf(self.folder)),
                "-in", str(csr), "-out", str(out), *override,
                "-startdate", openssl_time(now - BACKDATE),
                "-enddate", openssl_time(now + lifetime),
                "-extfile", str(ext), "-extensions", "ext", "-notext",
            )  # fmt: skip
        finally:
            ext.unlink(missing_ok=True)

    def sign_request(
        self, csr: Path, *, common_name: str, now: datetime, lifetime: timedelta
    ) -> str:
        """A client certificate for ``common_name`` on the key of the request at ``csr``,
        followed by this CA's certificate (the chain a pole presents). The subject and the
        extensions are ours, whatever the request asked for. Check the request first
        (:func:`trygg.openssl.read_request`)."""
        out = csr.with_name(csr.name + ".crt")
        extra = self.folder / CHAIN
        try:
            self._sign(csr, out, now=now, lifetime=lifetime, subject=f"/CN={common_name}")
            chain = out.read_text() + self.ca_crt.read_text()
            return chain + (extra.read_text() if extra.exists() else "")
        finally:
            out.unlink(missing_ok=True)

    def issued_to(self, common_name: str) -> list[Path]:
        """The unrevoked certificates this CA signed for ``common_name`` (kept by serial in
        ``newcerts/``)."""
        return self.issued().get(common_name, [])

    def issued(self) -> dict[str, list[Path]]:
        """Every unrevoked certificate this CA signed, by common name, oldest first."""
        index = self.folder / "index.txt"
        if not index.exists():
            return {}
        found: dict[str, list[Path]] = {}
        for line in index.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 6 and parts[0] == "V" and parts[5].startswith("/CN="):
                path = self.folder / "newcerts" / f"{parts[3]}.pem"
                if path.exists():
                    found.setdefault(parts[5].removeprefix("/CN="), []).append(path)
        return found

    def revoke(self, crt: Path, *, now: datetime) -> None:
        """Put ``crt`` on the CRL (idempotent) and re-sign ``crl.pem``."""
        try:
            run("ca", "-config", str(_ca_conf(self.folder)), "-revoke", str(crt))
        except OpensslError as exc:
            if "already revoked" not in str(exc).lower():
                raise
        self.update_crl(now=now)

    def update_crl(self, *, now: datetime, days: int = CRL_DAYS) -> Crl:
        """Re-sign ``crl.pem``: every revoked certificate, valid from ``now`` for ``days``."""
        tmp = self.crl.with_name("crl.pem.new")
        run(
            "ca", "-config", str(_ca_conf(self.folder)), "-gencrl", "-out", str(tmp),
            "-crl_lastupdate", openssl_time(now),
            "-crl_nextupdate", openssl_time(now + timedelta(days=days)),
        )  # fmt: skip
        tmp.replace(self.crl)
        return read_crl(self.crl)

    def current_crl(self) -> Crl | None:
        """The CRL's dates, or None when there is none (or it can't be read)."""
        if not self.crl.exists():
            return None
        try:
            return read_crl(self.crl)
        except OpensslError:
            return None

    def revoked_serials(self) -> set[str]:
        index = self.folder / "index.txt"
        if not index.exists():
            return set()
        return {
            line.split("\t")[3] for line in index.read_text().splitlines() if line.startswith("R\t")
        }

    def trust(self) -> str | None:
        """The root certificates poles should trust (PEM), when a rollover wrote them."""
        path = self.folder / TRUST
        return path.read_text() if path.exists() else None

    @staticmethod
    def serial_of(crt: Path) -> str:
        return read_certificate(crt).serial

    @staticmethod
    def certificate(crt: Path) -> Certificate:
        return read_certificate(crt)


def signing_ca(folder: Path) -> Pki:
    """The CA that signs in ``folder``: the next one while a rollover is under way."""
    current = Pki(folder)
    return current.next if current.next.exists() else current


def issuing_generations(folder: Path) -> list[Pki]:
    """The CA in ``folder`` and, during a rollover, the next one."""
    current = Pki(folder)
    return [current, current.next] if current.next.exists() else [current]
