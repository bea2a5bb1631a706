"""The ``openssl`` command: the one owner of it (the fleet CA and certificate reading).

Why the CLI and not a Python crypto package: ``openssl`` is on every admin machine, on the
broker host and in the hub's image already (Debian's ``ca-certificates`` depends on it), its
``ca`` command keeps the revocation database and writes the CRL Mosquitto checks, and it
adds no dependency to the project.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from trygg.certs import Certificate, Crl, Request, fields, parse_openssl_time


class OpensslError(RuntimeError):
    """openssl failed, is missing, or a file is not what it should be; the message carries
    openssl's own words."""


def run(*args: str, cwd: Path | None = None) -> str:
    """openssl's stdout; OpensslError with its stderr when it fails."""
    exe = shutil.which("openssl")
    if exe is None:
        raise OpensslError("openssl not found: install the Debian package 'openssl'")
    try:
        proc = subprocess.run(
            [exe, *args], capture_output=True, text=True, cwd=cwd, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OpensslError(f"openssl {args[0]} could not run: {exc}") from exc
    if proc.returncode != 0:
        raise OpensslError(f"openssl {args[0]} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def read_certificate(path: Path) -> Certificate:
    """Subject, serial and validity of the PEM certificate at ``path``."""
    out = fields(
        run(
            "x509",
            "-in",
            str(path),
            "-noout",
            "-nameopt",
            "RFC2253",
            "-subject",
            "-serial",
            "-startdate",
            "-enddate",
        )
    )
    try:
        return Certificate(
            subject=out["subject"],
            serial=out["serial"],
            not_before=parse_openssl_time(out["notBefore"]),
            not_after=parse_openssl_time(out["notAfter"]),
        )
    except (KeyError, ValueError) as exc:
        raise OpensslError(f"{path}: unexpected openssl x509 output ({exc})") from exc


def read_crl(path: Path) -> Crl:
    """Issuer and validity of the PEM CRL at ``path``."""
    out = fields(
        run(
            "crl",
            "-in",
            str(path),
            "-noout",
            "-nameopt",
            "RFC2253",
            "-issuer",
            "-lastupdate",
            "-nextupdate",
        )
    )
    try:
        return Crl(
            issuer=out["issuer"],
            last_update=parse_openssl_time(out["lastUpdate"]),
            next_update=parse_openssl_time(out["nextUpdate"]),
        )
    except (KeyError, ValueError) as exc:
        raise OpensslError(f"{path}: unexpected openssl crl output ({exc})") from exc


def new_key_and_request(key: Path, csr: Path, common_name: str) -> None:
    """A new EC P-256 key at ``key`` (mode 0600) and a request for ``common_name`` signed
    with it at ``csr``."""
    run(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={common_name}",
    )  # fmt: skip
    key.chmod(0o600)


def read_request(path: Path) -> Request:
    """The subject and key of the PEM certificate request at ``path``, after checking its
    self-signature; OpensslError for anything that is not a well-signed request."""
    out = run("req", "-in", str(path), "-noout", "-verify", "-nameopt", "RFC2253", "-subject")
    info = run("req", "-in", str(path), "-noout", "-text")
    subject = fields(out).get("subject")
    if subject is None:
        raise OpensslError(f"{path}: no subject in the request")
    curve = next(
        (line.split(":", 1)[1].strip() for line in info.splitlines() if "ASN1 OID:" in line), ""
    )
    return Request(subject=subject, curve=curve)


def public_key(path: Path, *, private: bool = False) -> str:
    """The public key (PEM) of the certificate at ``path``, or of the private key there."""
    if private:
        return run("pkey", "-in", str(path), "-pubout")
    return run("x509", "-in", str(path), "-noout", "-pubkey")


def verify_chain(ca_file: Path, chain: Path) -> None:
    """Check that the first certificate in ``chain`` leads, through the others there, to a
    CA in ``ca_file``, valid now; OpensslError with openssl's reason otherwise."""
    run("verify", "-CAfile", str(ca_file), "-untrusted", str(chain), str(chain))
