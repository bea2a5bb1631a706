"""Signed, content-addressed releases of the agent, its configuration and models. Pure.

A bundle is a directory::

    manifest.json      what is signed, byte for byte
    manifest.sig       base64 of the raw 64-byte Ed25519 signature over manifest.json
    files/<sha256>     each file under its own SHA-256

The release id is the SHA-256 of the manifest bytes. Everything a pole installs is checked
against the manifest (size and hash, while streaming), and the manifest against one of the
city's release public keys; the server that hands a bundle out is not trusted for integrity.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from trygg import text

MANIFEST: Final = "manifest.json"
SIGNATURE: Final = "manifest.sig"
FILES: Final = "files"

MAX_MANIFEST_BYTES: Final = 256 * 1024
MAX_SIGNATURE_BYTES: Final = 1024
MAX_FILES: Final = 512
# A full aarch64 wheel set with onnxruntime, OpenCV and numpy is well under this.
MAX_FILE_BYTES: Final = 256 * 1024 * 1024
MAX_TOTAL_BYTES: Final = 1024 * 1024 * 1024
CHUNK: Final = 1024 * 1024

Role = Literal["wheel", "config", "model"]
# The folder each role's files live under, inside a release and inside an installed release.
ROLE_DIRS: Final[dict[str, str]] = {"wheel": "wheels", "config": "config", "model": "models"}
SHA256_PATTERN: Final = r"^[0-9a-f]{64}$"
_SHA256_RE: Final = re.compile(SHA256_PATTERN)
_PART: Final = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,127}$")
_MAX_DEPTH: Final = 4

Sha256 = Annotated[str, Field(pattern=SHA256_PATTERN)]


class ReleaseError(ValueError):
    """A release, a key or a file that can't be trusted or used; the text says why."""


def safe_path(path: str) -> PurePosixPath:
    """``path`` as a relative POSIX path that stays inside the folder it is joined to.

    Raises ReleaseError for absolute paths, ``..``, ``.``, hidden or empty parts, backslashes
    and characters outside letters, digits and ``._+-``.
    """
    if not path or "\\" in path or path.startswith("/"):
        raise ReleaseError(f"unsafe path {path!r}: must be relative, with / separators")
    parts = path.split("/")
    if len(parts) > _MAX_DEPTH:
        raise ReleaseError(f"unsafe path {path!r}: deeper than {_MAX_DEPTH} parts")
    for part in parts:
        if part in ("", ".", "..") or not _PART.fullmatch(part):
            raise ReleaseError(f"unsafe path {path!r}: part {part!r} is not allowed")
    return PurePosixPath(*parts)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class FileEntry(_Model):
    path: str = Field(max_length=512, description="where it goes, under its role's folder")
    sha256: Sha256
    size: int = Field(ge=0, le=MAX_FILE_BYTES)
    role: Role

    @field_validator("path")
    @classmethod
    def _safe(cls, value: str) -> str:
        try:
            safe_path(value)
        except ReleaseError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _in_role_folder(self) -> FileEntry:
        top = self.path.split("/")[0]
        if len(self.path.split("/")) < 2 or top != ROLE_DIRS[self.role]:
            raise ValueError(f"{self.path!r}: a {self.role} goes under {ROLE_DIRS[self.role]}/")
        if self.role == "wheel" and not self.path.endswith(".whl"):
            raise ValueError(f"{self.path!r}: a wheel's name ends in .whl")
        return self


class Manifest(_Model):
    v: Literal[1] = 1
    version: str = Field(min_length=1, max_length=64, pattern=text.LINE_PATTERN)
    created: int = Field(ge=946_684_800_000, le=4_102_444_800_000, description="epoch ms")
    files: list[FileEntry] = Field(max_length=MAX_FILES)
    notes: str = Field(default="", max_length=4000, pattern=text.TEXT_PATTERN)

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        paths = [f.path for f in self.files]
        if len(set(paths)) != len(paths):
            raise ValueError("a path appears twice in the manifest")
        if sum(f.size for f in self.files) > MAX_TOTAL_BYTES:
            raise ValueError(f"files add up to more than {MAX_TOTAL_BYTES} bytes")
        return self

    def by_role(self, role: Role) -> list[FileEntry]:
        return [f for f in self.files if f.role == role]


def release_id(manifest_bytes: bytes) -> str:
    """The release's name: the SHA-256 hex of its manifest's exact bytes."""
    return hashlib.sha256(manifest_bytes).hexdigest()


def encode_manifest(manifest: Manifest) -> bytes:
    """Canonical bytes for ``manifest`` (sorted keys, no spaces), the bytes one signs."""
    return json.dumps(
        manifest.model_dump(mode="json"), sort_keys=True, separators=(",", ":")
    ).encode()


def parse_manifest(manifest_bytes: bytes) -> Manifest:
    """The validated manifest in ``manifest_bytes``; ReleaseError says what is wrong."""
    if len(manifest_bytes) > MAX_MANIFEST_BYTES:
        raise ReleaseError(f"manifest larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        return Manifest.model_validate_json(manifest_bytes)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "manifest"
        raise ReleaseError(f"invalid manifest at {where}: {first['msg']}") from None


def sign(manifest_bytes: bytes, private_key: Ed25519PrivateKey) -> bytes:
    """The raw 64-byte Ed25519 signature over ``manifest_bytes``."""
    return private_key.sign(manifest_bytes)


def encode_signature(signature: bytes) -> bytes:
    """The text of a ``manifest.sig`` file for a raw signature."""
    return base64.b64encode(signature) + b"\n"


def decode_signature(data: bytes) -> bytes:
    """The raw 64-byte signature from a ``manifest.sig`` file's base64 text (or raw bytes)."""
    if len(data) == 64:
        return data
    if len(data) > MAX_SIGNATURE_BYTES:
        raise ReleaseError("signature file too large")
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ReleaseError("signature is not base64") from None
    if len(raw) != 64:
        raise ReleaseError(f"signature is {len(raw)} bytes, an Ed25519 signature has 64")
    return raw


def verify(
    manifest_bytes: bytes, signature: bytes, public_keys: Sequence[Ed25519PublicKey]
) -> Manifest:
    """The manifest, once ``signature`` (raw or base64) matches one of ``public_keys``.

    Raises ReleaseError when no key is given, no key verifies the signature (tampered
    manifest, wrong key) or the manifest itself is invalid.
    """
    if not public_keys:
        raise ReleaseError("no release public key configured")
    raw = decode_signature(signature)
    for key in public_keys:
        try:
            key.verify(raw, manifest_bytes)
        except InvalidSignature:
            continue
        return parse_manifest(manifest_bytes)
    raise ReleaseError("signature does not match any release public key")


class FileCheck:
    """Checks one file of a release as its bytes stream in: too many bytes are refused at
    once, a wrong size or hash at :meth:`finish`."""

    def __init__(self, entry: FileEntry) -> None:
        self.entry = entry
        self._hash = hashlib.sha256()
        self._seen = 0

    def update(self, chunk: bytes) -> None:
        self._seen += len(chunk)
        if self._seen > self.entry.size:
            raise ReleaseError(f"{self.entry.path}: more than the {self.entry.size} bytes listed")
        self._hash.update(chunk)

    def finish(self) -> None:
        if self._seen != self.entry.size:
            raise ReleaseError(
                f"{self.entry.path}: {self._seen} bytes, the manifest lists {self.entry.size}"
            )
        if self._hash.hexdigest() != self.entry.sha256:
            raise ReleaseError(f"{self.entry.path}: SHA-256 differs from the manifest")


def check_file(path: Path, entry: FileEntry) -> None:
    """Stream ``path`` through a :class:`FileCheck`; ReleaseError if it is not ``entry``."""
    check = FileCheck(entry)
    try:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                check.update(chunk)
    except OSError as exc:
        raise ReleaseError(f"{entry.path}: {exc.strerror or exc}") from None
    check.finish()


def sha256_file(path: Path) -> tuple[str, int]:
    """The SHA-256 hex and size of ``path``, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@dataclass(frozen=True, slots=True)
class Bundle:
    folder: Path
    id: str
    manifest: Manifest
    manifest_bytes: bytes
    signature: bytes

    def file(self, entry: FileEntry) -> Path:
        return self.folder / FILES / entry.sha256


def _read_capped(path: Path, limit: int) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise ReleaseError(f"{path.name}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise ReleaseError(f"{path.name}: larger than {limit} bytes")
    return data


def load_bundle(folder: Path, public_keys: Sequence[Ed25519PublicKey]) -> Bundle:
    """The bundle in ``folder``, its signature and every file's size and hash checked.

    Raises ReleaseError naming the first thing that is wrong.
    """
    manifest_bytes = _read_capped(folder / MANIFEST, MAX_MANIFEST_BYTES)
    signature = decode_signature(_read_capped(folder / SIGNATURE, MAX_SIGNATURE_BYTES))
    manifest = verify(manifest_bytes, signature, public_keys)
    bundle = Bundle(folder, release_id(manifest_bytes), manifest, manifest_bytes, signature)
    for entry in manifest.files:
        check_file(bundle.file(entry), entry)
    return bundle


@dataclass(frozen=True, slots=True)
class Source:
    """A local file to put into a release as ``role`` under the name ``name``."""

    path: Path
    role: Role
    name: str = ""


def build_bundle(
    out: Path,
    *,
    private_key: Ed25519PrivateKey,
    version: str,
    sources: Iterable[Source],
    created_ms: int,
    notes: str = "",
) -> Bundle:
    """Write a signed bundle of ``sources`` into ``out`` (new or empty) and return it.

    Each source lands at ``<role folder>/<name or file name>``. Raises ReleaseError for an
    unreadable source, an invalid manifest or a non-empty ``out``.
    """
    if out.exists() and any(out.iterdir()):
        raise ReleaseError(f"{out} is not empty")
    entries = []
    staged: list[tuple[Path, str]] = []
    for src in sources:
        try:
            digest, size = sha256_file(src.path)
        except OSError as exc:
            raise ReleaseError(f"{src.path}: {exc.strerror or exc}") from None
        path = f"{ROLE_DIRS[src.role]}/{src.name or src.path.name}"
        entries.append({"path": path, "sha256": digest, "size": size, "role": src.role})
        staged.append((src.path, digest))
    try:
        manifest = Manifest.model_validate(
            {"v": 1, "version": version, "created": created_ms, "files": entries, "notes": notes}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ReleaseError(f"invalid release: {first['msg']}") from None
    manifest_bytes = encode_manifest(manifest)
    signature = sign(manifest_bytes, private_key)
    (out / FILES).mkdir(parents=True, exist_ok=True)
    for source, digest in staged:
        target = out / FILES / digest
        if not target.exists():
            target.write_bytes(source.read_bytes())
    (out / MANIFEST).write_bytes(manifest_bytes)
    (out / SIGNATURE).write_bytes(encode_signature(signature))
    return Bundle(out, release_id(manifest_bytes), manifest, manifest_bytes, signature)


# Keys: PEM files (PKCS#8 private, SubjectPublicKeyInfo public).

PRIVATE_KEY_FILE: Final = "release.key"
PUBLIC_KEY_FILE: Final = "release.pub"


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def save_keypair(folder: Path, key: Ed25519PrivateKey) -> tuple[Path, Path]:
    """Write ``release.key`` (mode 0600) and ``release.pub`` into ``folder``; refuses to
    overwrite an existing private key."""
    folder.mkdir(parents=True, exist_ok=True)
    priv, pub = folder / PRIVATE_KEY_FILE, folder / PUBLIC_KEY_FILE
    try:
        fd = os.open(priv, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ReleaseError(f"{priv} exists; a release key is never overwritten") from None
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem(key))
    pub.write_bytes(public_pem(key.public_key()))
    return priv, pub


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in PEM file ``path``; ReleaseError otherwise."""
    data = _read_capped(path, 16 * 1024)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ReleaseError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ReleaseError(f"{path}: not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key in PEM file ``path``; ReleaseError otherwise."""
    data = _read_capped(path, 16 * 1024)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ReleaseError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ReleaseError(f"{path}: not an Ed25519 key")
    return key


def load_public_keys(paths: Iterable[Path]) -> list[Ed25519PublicKey]:
    """Every key in ``paths`` (two during a key rotation); ReleaseError for any bad one."""
    return [load_public_key(p) for p in paths]


def is_release_id(value: str) -> bool:
    return bool(_SHA256_RE.fullmatch(value))
