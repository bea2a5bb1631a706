"""The fleet's certificate authority, through the ``openssl`` command (the one owner of it).

Why the CLI and not a Python crypto package: ``openssl`` is on every admin machine and on
the broker host already, its ``ca`` command keeps the revocation database and writes the CRL
Mosquitto checks (``crlfile``), and it adds no dependency to the project. Keys are EC P-256
(small, fast TLS handshakes on a Pi over a mobile link).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CA_DAYS = 3650
CERT_DAYS = 825
CRL_DAYS = 30


class PkiError(RuntimeError):
    """openssl failed or is missing; the message carries openssl's own words."""


def _openssl(*args: str, cwd: Path | None = None) -> str:
    exe = shutil.which("openssl")
    if exe is None:
        raise PkiError("openssl not found: install the Debian package 'openssl'")
    proc = subprocess.run(
        [exe, *args], capture_output=True, text=True, cwd=cwd, check=False, timeout=60
    )
    if proc.returncode != 0:
        raise PkiError(f"openssl {args[0]} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def _ca_conf(ca: Path) -> Path:
    conf = ca / "openssl.cnf"
    if not conf.exists():
        conf.write_text(
            f"""[ ca ]
default_ca = trygg

[ trygg ]
dir = {ca}
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

[ any ]
commonName = supplied
"""
        )
    return conf


class Pki:
    """A CA under ``folder`` (``ca.key``, ``ca.crt``, index, CRL)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ca_key = folder / "ca.key"
        self.ca_crt = folder / "ca.crt"
        self.crl = folder / "crl.pem"

    def ensure_ca(self, name: str = "Trygg fleet CA") -> None:
        """Create the CA (once) and an empty CRL."""
        if self.ca_crt.exists():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "newcerts").mkdir(exist_ok=True)
        (self.folder / "index.txt").touch()
        (self.folder / "serial").write_text("1000\n")
        (self.folder / "crlnumber").write_text("1000\n")
        _openssl(
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(self.ca_key),
            "-out",
            str(self.ca_crt),
            "-days",
            str(CA_DAYS),
            "-subj",
            f"/CN={name}",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        )
        self.ca_key.chmod(0o600)
        self.update_crl()

    def issue(
        self, out: Path, common_name: str, *, server: bool = False, sans: tuple[str, ...] = ()
    ) -> tuple[Path, Path]:
        """A key and a CA-signed certificate for ``common_name`` in folder ``out``."""
        out.mkdir(parents=True, exist_ok=True)
        key, csr, crt = out / f"{out.name}.key", out / f"{out.name}.csr", out / f"{out.name}.crt"
        _openssl(
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(csr),
            "-subj",
            f"/CN={common_name}",
        )
        key.chmod(0o600)
        ext = out / "ext.cnf"
        lines = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature"]
        lines.append(f"extendedKeyUsage={'serverAuth' if server else 'clientAuth'}")
        if sans:
            lines.append("subjectAltName=" + ",".join(sans))
        ext.write_text("[ext]\n" + "\n".join(lines) + "\n")
        _openssl(
            "ca",
            "-batch",
            "-config",
            str(_ca_conf(self.folder)),
            "-in",
            str(csr),
            "-out",
            str(crt),
            "-extfile",
            str(ext),
            "-extensions",
            "ext",
            "-notext",
        )
        csr.unlink()
        ext.unlink()
        return key, crt

    def revoke(self, crt: Path) -> None:
        """Put ``crt`` on the CRL (idempotent) and rewrite ``crl.pem``."""
        try:
            _openssl("ca", "-config", str(_ca_conf(self.folder)), "-revoke", str(crt))
        except PkiError as exc:
            if "already revoked" not in str(exc).lower():
                raise
        self.update_crl()

    def update_crl(self) -> None:
        _openssl("ca", "-config", str(_ca_conf(self.folder)), "-gencrl", "-out", str(self.crl))

    def revoked_serials(self) -> set[str]:
        index = self.folder / "index.txt"
        if not index.exists():
            return set()
        return {
            line.split("\t")[3] for line in index.read_text().splitlines() if line.startswith("R\t")
        }

    @staticmethod
    def serial_of(crt: Path) -> str:
        return _openssl("x509", "-in", str(crt), "-noout", "-serial").strip().split("=", 1)[1]
