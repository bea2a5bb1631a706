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

from trygg.certs import Certificate, Crl, fields, parse_openssl_time


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
