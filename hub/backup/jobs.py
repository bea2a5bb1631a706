"""Scheduled backups: each run writes ``ROOT/<UTC stamp>/`` and then lets go of the backups
the retention policy no longer keeps. The systemd timer runs one job; the compose service
repeats it (:func:`repeat`)."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from hub.backup import manifest, retention, run
from hub.backup.errors import BackupError

log = logging.getLogger(__name__)
STAMP = "%Y%m%dT%H%M%SZ"


def name_of(now: datetime) -> str:
    return now.astimezone(UTC).strftime(STAMP)


def stamp_of(name: str) -> datetime | None:
    try:
        return datetime.strptime(name, STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def backups(root: Path) -> dict[datetime, Path]:
    """The whole backups under ``root`` by time (folders with a manifest; never others)."""
    found: dict[datetime, Path] = {}
    if root.is_dir():
        for p in root.iterdir():
            stamp = stamp_of(p.name)
            if stamp is not None and (p / manifest.NAME).is_file():
                found[stamp] = p
    return found


def prune(root: Path, policy: retention.Policy) -> list[Path]:
    """Delete the backups ``policy`` lets go; returns them."""
    found = backups(root)
    gone = [found[t] for t in retention.expired(found, policy)]
    for path in gone:
        shutil.rmtree(path)
    return gone


def once(
    root: Path,
    sources: run.Sources,
    passphrase: bytes,
    policy: retention.Policy,
    now: datetime,
) -> tuple[Path, list[Path]]:
    """One scheduled backup: the new folder and the expired ones removed."""
    dest = root / name_of(now)
    run.take(sources, dest, passphrase, now)
    return dest, prune(root, policy)


def repeat(
    job: Callable[[], object],
    every_s: float,
    *,
    runs: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Run ``job`` every ``every_s`` seconds (``runs`` times, or for ever). A failed run is
    logged and the next one still happens."""
    done = 0
    while runs is None or done < runs:
        try:
            job()
        except (BackupError, OSError) as exc:
            log.error("backup failed: %s", exc)
        done += 1
        if runs is None or done < runs:
            sleep(every_s)
