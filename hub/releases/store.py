"""Releases on the hub: verified against the city's keys, then kept on disk content-addressed
and listed in SQL.

Layout under ``TRYGG_RELEASE_DIR``::

    files/<sha256>               every file of every release, once
    <release id>/manifest.json   the signed bytes
    <release id>/manifest.sig

Files are written to a scratch name and renamed into place, and the release's folder last,
so a crash leaves either a complete release or nothing a pole could be sent to (a SQL row is
added only after its files are in place).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import audit
from hub.db import Release
from hub.releases.upload import Upload
from trygg import release as r
from trygg.clock import from_ms

log = logging.getLogger(__name__)
_ID_CHARS: Final = frozenset("0123456789abcdef")


class PublishError(ValueError):
    """The bundle was refused (bad signature, hash, size, unknown key); nothing was stored."""


@dataclass(frozen=True, slots=True)
class Published:
    release: Release
    new: bool  # False: the very same release was published before


def _is_id(value: str) -> bool:
    return len(value) == 64 and set(value) <= _ID_CHARS


class ReleaseFiles:
    """The release folder on disk (``TRYGG_RELEASE_DIR``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def scratch(self) -> Path:
        """A new empty folder on the same file system, for an upload in progress."""
        base = self.root / "tmp"
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=base))

    def blob(self, sha256: str) -> Path | None:
        """The stored file with this SHA-256, or None."""
        if not _is_id(sha256):
            return None
        path = self.root / r.FILES / sha256
        return path if path.is_file() else None

    def manifest(self, release_id: str, name: str) -> Path | None:
        """A stored release's ``manifest.json`` or ``manifest.sig``, or None."""
        if not _is_id(release_id) or name not in (r.MANIFEST, r.SIGNATURE):
            return None
        path = self.root / release_id / name
        return path if path.is_file() else None

    def listed(self, release_id: str, sha256: str) -> bool:
        """Whether ``sha256`` is a file of the stored release ``release_id``."""
        path = self.manifest(release_id, r.MANIFEST)
        if path is None:
            return False
        try:
            manifest = r.parse_manifest(path.read_bytes())
        except r.ReleaseError:
            return False
        return any(f.sha256 == sha256 for f in manifest.files)

    def keep(self, upload: Upload, manifest: r.Manifest, release_id: str) -> None:
        """Move the checked files into place, then the release's manifest and signature.
        A stored file, manifest or signature that was lost or damaged since an earlier
        publish is put back (logged), so publishing a release again repairs it."""
        files = self.root / r.FILES
        files.mkdir(parents=True, exist_ok=True)
        for entry in manifest.files:
            target = files / entry.sha256
            # Hashed again, not just looked for: the poles refuse a damaged copy forever.
            if not _intact(target, entry):
                if target.exists():
                    log.warning("release store: %s was damaged; put back", target)
                upload.blobs[entry.sha256].replace(target)
        folder = self.root / release_id
        signature = r.encode_signature(r.decode_signature(upload.signature))
        if folder.is_dir():
            self._restore(folder / r.MANIFEST, upload.manifest)
            self._restore(folder / r.SIGNATURE, signature)
            return
        staging = Path(tempfile.mkdtemp(dir=self.root / "tmp"))
        (staging / r.MANIFEST).write_bytes(upload.manifest)
        (staging / r.SIGNATURE).write_bytes(signature)
        try:
            staging.replace(folder)
        except OSError:
            # another publish of the same release won the rename: same bytes, keep theirs
            shutil.rmtree(staging, ignore_errors=True)
            if not folder.is_dir():
                raise

    def _restore(self, path: Path, data: bytes) -> None:
        """``path`` holds ``data`` afterwards, replaced in one rename if it did not."""
        with contextlib.suppress(OSError):
            if path.read_bytes() == data:
                return
        log.warning("release store: %s was missing or not the bytes published; put back", path)
        fd, tmp = tempfile.mkstemp(dir=self.root / "tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        Path(tmp).replace(path)


def _intact(path: Path, entry: r.FileEntry) -> bool:
    try:
        r.check_file(path, entry)
    except r.ReleaseError:  # missing, unreadable, or other bytes
        return False
    return True


def check(upload: Upload, keys: Sequence[Ed25519PublicKey]) -> tuple[str, r.Manifest]:
    """The release id and manifest of ``upload`` once its signature and every file's size
    and hash are right; PublishError naming the first problem otherwise."""
    try:
        manifest = r.verify(upload.manifest, upload.signature, keys)
    except r.ReleaseError as exc:
        raise PublishError(str(exc)) from None
    listed = {f.sha256 for f in manifest.files}
    extra = sorted(set(upload.blobs) - listed)
    if extra:
        raise PublishError(f"files/{extra[0]} is not listed in the manifest")
    for entry in manifest.files:
        blob = upload.blobs.get(entry.sha256)
        if blob is None:
            raise PublishError(f"{entry.path}: files/{entry.sha256} is missing")
        try:
            r.check_file(blob, entry)
        except r.ReleaseError as exc:
            raise PublishError(str(exc)) from None
    return r.release_id(upload.manifest), manifest


def publish(
    s: Session,
    files: ReleaseFiles,
    upload: Upload,
    *,
    keys: Sequence[Ed25519PublicKey],
    actor: str,
    now_ms: int,
) -> Published:
    """Verify ``upload``, keep its files and list it; the same release again is no error
    (``new`` is False). PublishError when it is refused; then nothing is stored."""
    release_id, manifest = check(upload, keys)
    files.keep(upload, manifest, release_id)  # a release stored before gets its files repaired
    existing = s.get(Release, release_id)
    if existing is not None:
        return Published(existing, new=False)
    now = from_ms(now_ms)
    row = Release(
        id=release_id,
        version=manifest.version,
        created=from_ms(manifest.created),
        published_at=now,
        published_by=actor[:64],
        notes=manifest.notes,
        size=sum(f.size for f in manifest.files),
        files={"files": [f.model_dump(mode="json") for f in manifest.files]},
    )
    s.add(row)
    audit.record(
        s,
        actor=actor,
        action="release.publish",
        target=f"release:{release_id}",
        now=now,
        after={"version": manifest.version, "files": len(manifest.files)},
    )
    return Published(row, new=True)


def releases(s: Session, *, limit: int = 200) -> list[Release]:
    """The newest published first."""
    return list(s.scalars(select(Release).order_by(Release.published_at.desc()).limit(limit)))
