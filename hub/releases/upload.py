"""An uploaded release bundle: a tar (plain or gzip) of the bundle folder, unpacked
defensively into a scratch folder.

Only ``manifest.json``, ``manifest.sig`` and ``files/<sha256>`` are taken, as regular files,
optionally under one top folder (``tar -C dir .`` or ``tar czf b.tgz bundle/``). Links,
devices, other names, a name twice and anything past the size limits are refused with the
reason; nothing here trusts the content (:mod:`hub.releases.store` verifies it).
"""

from __future__ import annotations

import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from trygg import release as r

_BLOB: Final = re.compile(r"^files/([0-9a-f]{64})$")


class UploadError(ValueError):
    """The upload is not a usable bundle tar; the message says why."""


@dataclass(frozen=True, slots=True)
class Upload:
    manifest: bytes
    signature: bytes
    blobs: dict[str, Path]  # sha256 -> its unpacked file under the scratch folder


def _name(member: str, prefix: str | None) -> tuple[str, str | None]:
    """The member's name inside the bundle, and the top folder it sits under ("" for none)."""
    name = member.removeprefix("./")
    if _bundle_name(name):
        top, rest = "", name
    else:
        top, _, rest = name.partition("/")
        if not _bundle_name(rest):
            raise UploadError(f"{member!r} is not part of a release bundle")
    if prefix is not None and prefix != top:
        raise UploadError(f"{member!r}: every member must sit under one top folder")
    return rest, top


def _bundle_name(name: str) -> bool:
    return name in (r.MANIFEST, r.SIGNATURE) or bool(_BLOB.match(name))


def _copy(src: IO[bytes], dest: Path, limit: int) -> int:
    written = 0
    with dest.open("wb") as out:
        while chunk := src.read(r.CHUNK):
            written += len(chunk)
            if written > limit:
                raise UploadError(f"{dest.name}: larger than {limit} bytes")
            out.write(chunk)
    return written


def unpack(tar_file: Path, scratch: Path, *, max_total: int) -> Upload:
    """The bundle in ``tar_file``, its blobs written under ``scratch`` (an empty folder the
    caller removes). Raises UploadError naming the first problem."""
    manifest = signature = None
    blobs: dict[str, Path] = {}
    prefix: str | None = None
    total = 0
    try:
        with tarfile.open(tar_file, mode="r:*") as tar:
            for member in tar:
                if member.isdir():
                    continue
                name, prefix = _name(member.name, prefix)
                if not member.isreg():
                    raise UploadError(f"{member.name!r}: only regular files are accepted")
                total += member.size
                if total > max_total:
                    raise UploadError(f"the bundle is larger than {max_total} bytes")
                src = tar.extractfile(member)
                if src is None:  # a regular file always has content; this is tarfile's type
                    raise UploadError(f"{member.name!r}: unreadable")
                if name == r.MANIFEST:
                    if manifest is not None:
                        raise UploadError("manifest.json appears twice")
                    manifest = src.read(r.MAX_MANIFEST_BYTES + 1)
                    if len(manifest) > r.MAX_MANIFEST_BYTES:
                        raise UploadError("manifest.json is too large")
                elif name == r.SIGNATURE:
                    if signature is not None:
                        raise UploadError("manifest.sig appears twice")
                    signature = src.read(r.MAX_SIGNATURE_BYTES + 1)
                    if len(signature) > r.MAX_SIGNATURE_BYTES:
                        raise UploadError("manifest.sig is too large")
                elif m := _BLOB.match(name):
                    digest = m.group(1)
                    if digest in blobs:
                        raise UploadError(f"files/{digest} appears twice")
                    blobs[digest] = scratch / digest
                    _copy(src, blobs[digest], r.MAX_FILE_BYTES)
                else:
                    raise UploadError(f"{member.name!r} is not part of a release bundle")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise UploadError(f"not a readable tar: {exc}") from None
    if manifest is None:
        raise UploadError("no manifest.json in the upload")
    if signature is None:
        raise UploadError("no manifest.sig in the upload")
    return Upload(manifest, signature, blobs)


def pack(bundle: Path, out: Path) -> Path:
    """A gzip tar of the bundle folder ``bundle`` at ``out`` (what ``trygg release publish``
    uploads): its manifest, signature and files only."""
    with tarfile.open(out, mode="w:gz") as tar:
        for name in (r.MANIFEST, r.SIGNATURE):
            tar.add(bundle / name, arcname=name, recursive=False)
        files = bundle / r.FILES
        if files.is_dir():
            for blob in sorted(files.iterdir()):
                tar.add(blob, arcname=f"{r.FILES}/{blob.name}", recursive=False)
    return out


def clear(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
