"""What a backup holds: format, versions, and each file's size and SHA-256. Pure but for
hashing files.

The manifest is signed with an HMAC keyed from the passphrase, so a backup whose files or
manifest were altered (or a wrong passphrase) is refused before anything is restored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hub.backup.errors import BackupError

FORMAT = 1
NAME = "manifest.json"


@dataclass(frozen=True, slots=True)
class Entry:
    path: str  # relative to the backup folder, '/'-separated
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class Manifest:
    created: str  # ISO 8601 UTC
    trygg_version: str
    salt: str  # hex; the key derivation's salt
    sql_dialect: str
    sql_revisions: tuple[str, ...]
    influx_db: str | None  # None when InfluxDB was not part of the backup
    files: tuple[Entry, ...] = ()
    format: int = FORMAT
    notes: dict[str, str] = field(default_factory=dict)

    def body(self) -> bytes:
        """The canonical bytes the signature covers."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()


def sign(manifest: Manifest, key: bytes) -> bytes:
    mac = hmac.new(key, manifest.body(), hashlib.sha256).hexdigest()
    return json.dumps({"manifest": asdict(manifest), "hmac": mac}, indent=2).encode() + b"\n"


def peek(raw: bytes) -> Manifest:
    """The manifest in ``raw``, not yet verified (its salt is needed to derive the key)."""
    try:
        m: dict[str, Any] = json.loads(raw)["manifest"]
        fmt = int(m["format"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{NAME} is not a Trygg backup manifest ({exc})") from exc
    if fmt != FORMAT:
        raise BackupError(
            f"backup format {fmt} is not the format this Trygg reads ({FORMAT}); "
            f"restore it with Trygg {m.get('trygg_version', '?')}"
        )
    try:
        return Manifest(
            created=str(m["created"]),
            trygg_version=str(m["trygg_version"]),
            salt=str(m["salt"]),
            sql_dialect=str(m["sql_dialect"]),
            sql_revisions=tuple(str(r) for r in m["sql_revisions"]),
            influx_db=None if m["influx_db"] is None else str(m["influx_db"]),
            files=tuple(
                Entry(path=str(f["path"]), sha256=str(f["sha256"]), size=int(f["size"]))
                for f in m["files"]
            ),
            format=fmt,
            notes={str(k): str(v) for k, v in m.get("notes", {}).items()},
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{NAME} is not a Trygg backup manifest ({exc})") from exc


def verify(raw: bytes, key: bytes) -> Manifest:
    """The manifest in ``raw`` if its signature matches ``key``; BackupError otherwise."""
    manifest = peek(raw)
    try:
        given = str(json.loads(raw)["hmac"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{NAME} has no signature") from exc
    want = hmac.new(key, manifest.body(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given, want):
        raise BackupError(
            "the backup's manifest does not verify: wrong passphrase, or the backup was altered"
        )
    return manifest


def hash_file(root: Path, path: Path) -> Entry:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return Entry(path=path.relative_to(root).as_posix(), sha256=digest.hexdigest(), size=size)


def entries(root: Path) -> tuple[Entry, ...]:
    """Every file under ``root`` but the manifest, sorted by path."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != NAME)
    return tuple(hash_file(root, p) for p in files)


def check(root: Path, manifest: Manifest) -> None:
    """BackupError naming every file that is missing, added or changed under ``root``."""
    found = {e.path: e for e in entries(root)}
    listed = {e.path: e for e in manifest.files}
    problems = [f"missing {p}" for p in sorted(listed.keys() - found.keys())]
    problems += [f"not in the manifest: {p}" for p in sorted(found.keys() - listed.keys())]
    problems += [
        f"changed {p}" for p in sorted(listed.keys() & found.keys()) if listed[p] != found[p]
    ]
    if problems:
        raise BackupError("the backup is corrupt or was altered: " + "; ".join(problems))
