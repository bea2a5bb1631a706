"""Passphrase keys and the sealed (encrypted and authenticated) secrets of a backup.

scrypt derives two keys from the passphrase and the backup's salt: one for AES-256-GCM over
the secrets archive, one for the manifest's HMAC. The passphrase comes from a file or the
environment, never the command line (which other local users can read).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from hub.backup.errors import BackupError

ENV = "TRYGG_BACKUP_PASSPHRASE"
MIN_LENGTH = 12
_AAD = b"trygg-backup-secrets-v1"
_NONCE = 12


@dataclass(frozen=True, slots=True, repr=False)
class Keys:
    seal: bytes
    mac: bytes


def new_salt() -> bytes:
    return os.urandom(16)


def derive(passphrase: bytes, salt: bytes) -> Keys:
    key = Scrypt(salt=salt, length=64, n=2**15, r=8, p=1).derive(passphrase)
    return Keys(seal=key[:32], mac=key[32:])


def passphrase(file: Path | None, environ: dict[str, str] | None = None) -> bytes:
    """The passphrase from ``file`` (first line) or $TRYGG_BACKUP_PASSPHRASE."""
    env = os.environ if environ is None else environ
    if file is not None:
        try:
            lines = file.read_text().splitlines()
        except OSError as exc:
            raise BackupError(f"cannot read the passphrase file {file}: {exc}") from exc
        text = lines[0] if lines else ""
    else:
        text = env.get(ENV, "")
    if not text:
        raise BackupError(f"no passphrase: give --passphrase-file or set {ENV}")
    if len(text) < MIN_LENGTH:
        raise BackupError(f"the passphrase is shorter than {MIN_LENGTH} characters")
    return text.encode()


def seal(data: bytes, keys: Keys) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(keys.seal).encrypt(nonce, data, _AAD)


def unseal(blob: bytes, keys: Keys) -> bytes:
    try:
        return AESGCM(keys.seal).decrypt(blob[:_NONCE], blob[_NONCE:], _AAD)
    except InvalidTag as exc:
        raise BackupError(
            "the secrets do not decrypt: wrong passphrase, or the file was altered"
        ) from exc
