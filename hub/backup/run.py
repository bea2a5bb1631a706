"""Taking a backup and restoring one: the order of the parts and every check a restore
makes before it changes anything."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path

from hub.backup import files, influx, manifest, secrets, sql
from hub.backup.errors import BackupError
from hub.backup.influx import Influx

SECRETS_FILE = "secrets.bin"


class RestoreFailedError(BackupError):
    """A restore that passed its checks failed part-way: the target is changed."""


@dataclass(frozen=True, slots=True)
class Sources:
    """What a backup copies and what a restore replaces."""

    database_url: str
    influx: Influx | None  # None: InfluxDB is backed up by its own tools
    paths: Sequence[Path] = field(default_factory=tuple)  # PKI folders, configuration files


def _version() -> str:
    try:
        return metadata.version("trygg")
    except metadata.PackageNotFoundError:
        return "unknown"


def take(sources: Sources, dest: Path, passphrase: bytes, now: datetime) -> manifest.Manifest:
    """Write a backup into the new folder ``dest``: first to ``dest.partial``, renamed when
    complete, so a folder with a manifest is always a whole backup."""
    if dest.exists():
        raise BackupError(f"{dest} already exists")
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        salt = secrets.new_salt()
        keys = secrets.derive(passphrase, salt)
        if sources.paths:
            (partial / SECRETS_FILE).write_bytes(secrets.seal(files.pack(sources.paths), keys))
        revisions = sql.revisions(sources.database_url)
        # SQL before InfluxDB: see hub/backup/__init__.py for why this order is the safe one.
        sql.backup(sources.database_url, partial)
        if sources.influx is not None:
            influx.backup(sources.influx, partial)
        made = manifest.Manifest(
            created=now.isoformat(),
            trygg_version=_version(),
            salt=salt.hex(),
            sql_dialect=sql.dialect(sources.database_url),
            sql_revisions=revisions,
            influx_db=sources.influx.db if sources.influx else None,
            files=manifest.entries(partial),
        )
        (partial / manifest.NAME).write_bytes(manifest.sign(made, keys.mac))
        partial.rename(dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return made


@dataclass(frozen=True, slots=True)
class Checked:
    manifest: manifest.Manifest
    secrets: bytes | None  # the unsealed archive


def check(src: Path, sources: Sources, passphrase: bytes, *, force: bool) -> Checked:
    """Every reason to refuse a restore of ``src`` onto ``sources``, before any change."""
    raw_path = src / manifest.NAME
    if not raw_path.is_file():
        raise BackupError(f"{src} is not a backup (no {manifest.NAME})")
    raw = raw_path.read_bytes()
    try:
        salt = bytes.fromhex(manifest.peek(raw).salt)
    except ValueError as exc:
        raise BackupError(f"{manifest.NAME} has no valid salt") from exc
    keys = secrets.derive(passphrase, salt)
    made = manifest.verify(raw, keys.mac)
    manifest.check(src, made)
    unsealed = None
    if (src / SECRETS_FILE).exists():
        unsealed = secrets.unseal((src / SECRETS_FILE).read_bytes(), keys)
    target = sql.dialect(sources.database_url)
    if made.sql_dialect != target:
        raise BackupError(f"the backup holds a {made.sql_dialect} database; the target is {target}")
    unknown = set(made.sql_revisions) - sql.known_revisions()
    if unknown:
        raise BackupError(
            f"the backup's database is at schema {', '.join(sorted(unknown))}, which this "
            f"Trygg does not know: restore it with Trygg {made.trygg_version} or newer"
        )
    if made.influx_db is not None and sources.influx is None:
        raise BackupError("the backup holds InfluxDB; give --influx-rpc to restore it")
    if made.influx_db is not None and sources.influx and made.influx_db != sources.influx.db:
        raise BackupError(
            f"the backup holds InfluxDB database {made.influx_db!r}; "
            f"the hub is set to {sources.influx.db!r} (TRYGG_INFLUX_DB)"
        )
    if not force:
        busy = []
        if not sql.is_empty(sources.database_url):
            busy.append("the SQL database has tables")
        if made.influx_db is not None and sources.influx and sources.influx.has_data():
            busy.append(f"InfluxDB database {sources.influx.db!r} holds data")
        if unsealed is not None:
            busy += [f"{p} exists" for p in files.occupied(unsealed)]
        if busy:
            raise BackupError(
                "the target is not empty (" + "; ".join(busy) + "); restore with --force "
                "to replace it"
            )
    return Checked(manifest=made, secrets=unsealed)


def restore(src: Path, sources: Sources, passphrase: bytes, *, force: bool) -> manifest.Manifest:
    """Restore ``src`` after :func:`check`; the hub must be stopped meanwhile."""
    checked = check(src, sources, passphrase, force=force)
    try:
        sql.restore(sources.database_url, src, force=force)
        if checked.manifest.influx_db is not None and sources.influx is not None:
            influx.restore(sources.influx, src)
        if checked.secrets is not None:
            with tempfile.TemporaryDirectory(prefix="trygg-restore-") as scratch:
                files.unpack(checked.secrets, Path(scratch))
    except (BackupError, OSError) as exc:
        raise RestoreFailedError(
            f"{exc}; the target is partly restored: run again with --force"
        ) from exc
    return checked.manifest
