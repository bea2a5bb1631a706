"""``trygg backup`` and ``trygg restore`` (registered by hub.cli). The database and InfluxDB
come from the hub's TRYGG_* settings; the passphrase from a file or $TRYGG_BACKUP_PASSPHRASE.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hub.backup.errors import BackupError
from trygg.cli import Subcommands

if TYPE_CHECKING:
    from hub.backup.run import Sources


def _sources(args: argparse.Namespace) -> Sources:
    from hub.backup.influx import Influx
    from hub.backup.run import Sources
    from hub.settings_env import SettingsError, load

    try:
        settings = load({})
    except SettingsError as exc:
        raise BackupError(f"the hub's settings are wrong:\n{exc}") from exc
    influx = None
    if args.influx_rpc:
        influx = Influx(
            url=settings.influx_url,
            rpc=args.influx_rpc,
            db=settings.influx_db,
            username=settings.influx_username,
            password=settings.influx_password,
            token=settings.influx_token,
        )
    return Sources(
        database_url=settings.database_url,
        influx=influx,
        paths=tuple(getattr(args, "include", None) or ()),
    )


def cmd_backup(args: argparse.Namespace) -> int:
    from hub.backup import jobs, retention, secrets
    from trygg.clock import SystemClock

    try:
        sources = _sources(args)
        phrase = secrets.passphrase(args.passphrase_file)
        policy = retention.Policy(
            daily=args.keep_daily, weekly=args.keep_weekly, monthly=args.keep_monthly
        )
    except (BackupError, ValueError) as exc:
        sys.stderr.write(f"trygg backup: {exc}\n")
        return 1
    root = Path(args.to)
    clock = SystemClock()

    def job() -> None:
        dest, gone = jobs.once(root, sources, phrase, policy, clock.now())
        sys.stdout.write(f"backup written to {dest}\n")
        for path in gone:
            sys.stdout.write(f"expired backup removed: {path}\n")

    if args.every:
        jobs.repeat(job, args.every)
        return 0
    try:
        job()
    except (BackupError, OSError) as exc:
        sys.stderr.write(f"trygg backup: {exc}\n")
        return 1
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from hub.backup import run, secrets

    try:
        sources = _sources(args)
        made = run.restore(
            Path(args.from_), sources, secrets.passphrase(args.passphrase_file), force=args.force
        )
    except run.RestoreFailedError as exc:
        sys.stderr.write(f"trygg restore: failed: {exc}\n")
        return 1
    except (BackupError, OSError) as exc:
        sys.stderr.write(f"trygg restore: refused, nothing changed: {exc}\n")
        return 1
    sys.stdout.write(f"restored the backup of {made.created} (Trygg {made.trygg_version})\n")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--passphrase-file",
        type=Path,
        help="file whose first line is the passphrase (else $TRYGG_BACKUP_PASSPHRASE)",
    )
    p.add_argument(
        "--influx-rpc",
        help="host:port of influxd's backup service (InfluxDB 1.x, default port 8088); "
        "without it InfluxDB is left to its own tools",
    )


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "backup", help="back up the hub: SQL, InfluxDB 1.x, PKI and configuration files"
    )
    p.add_argument("--to", required=True, help="folder that receives <UTC stamp>/ backups")
    p.add_argument(
        "--include",
        action="append",
        type=Path,
        help="a PKI folder or configuration file to back up (encrypted); repeatable",
    )
    p.add_argument("--keep-daily", type=int, default=7)
    p.add_argument("--keep-weekly", type=int, default=4)
    p.add_argument("--keep-monthly", type=int, default=12)
    p.add_argument("--every", type=float, help="repeat every this many seconds (a service)")
    _common(p)
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="restore a hub from a backup (stop the hub first)")
    p.add_argument("--from", dest="from_", required=True, help="the backup's folder")
    p.add_argument("--force", action="store_true", help="replace a non-empty target")
    _common(p)
    p.set_defaults(func=cmd_restore)
