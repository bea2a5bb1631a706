"""``trygg admin``: set up and run an installation without a Python prompt.

Exit status: 0 done, 1 refused (bad input or a change that cannot be made; nothing
changed), 2 usage, 3 the database cannot be reached. Every change is audited with the
actor ``--actor`` (default: the operating system user).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from trygg.cli import Subcommands

EXIT_REFUSED = 1
EXIT_DATABASE = 3

Action = Callable[[Session, argparse.Namespace, datetime], int]


def _database_url(args: argparse.Namespace) -> str:
    from hub.settings import HubSettings

    default = HubSettings.model_fields["database_url"].default
    return str(args.database_url or os.environ.get("TRYGG_DATABASE_URL") or default)


def _actor(args: argparse.Namespace) -> str:
    if args.actor:
        return str(args.actor)
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _run(action: Action) -> Callable[[argparse.Namespace], int]:
    """Open the database, run ``action`` in one transaction, map errors to exit codes, and
    close every connection (a CLI run leaves none open)."""

    def handler(args: argparse.Namespace) -> int:
        from hub.admin import AdminError
        from hub.crew_geojson import GeoJsonError
        from hub.db import open_database
        from hub.registry import RegistryError

        # The schema upgrade's per-revision lines are noise in a command's output.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        sessions: sessionmaker[Session] | None = None
        try:
            sessions = open_database(_database_url(args))
            with sessions.begin() as s:
                return action(s, args, datetime.now(UTC))
        except (AdminError, RegistryError, GeoJsonError) as exc:
            print(f"trygg admin: refused: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        except SQLAlchemyError as exc:
            print(f"trygg admin: database error: {exc}", file=sys.stderr)
            return EXIT_DATABASE
        finally:
            if sessions is not None:
                sessions.kw["bind"].dispose()

    return handler


def _emit(args: argparse.Namespace, rows: list[dict[str, Any]], columns: list[str]) -> None:
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        print("(none)")
        return
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for r in rows:
        cells = (str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True))
        print("  ".join(cells).rstrip())


# ---- init and users ------------------------------------------------------------------


def do_init(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub import admin

    done = admin.init(s, name=args.name, actor=_actor(args), now=now)
    print(
        f"initialised: admin {done.name!r}\n"
        f"password: {done.password}\ntoken:    {done.token}\n"
        "Both are shown once and stored only as hashes: keep them somewhere safe now."
    )
    return 0


def do_users_add(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub import admin

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    user = admin.add_user(
        s, name=args.name, role=args.role, area=args.area, password=password,
        actor=_actor(args), now=now,
    )  # fmt: skip
    print(f"user {user.name!r} added ({user.role})")
    return 0


def do_users_list(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub import admin

    rows = [
        {"name": u.name, "role": u.role, "area": u.area or "", "active": u.active}
        for u in admin.users(s)
    ]
    _emit(args, rows, ["name", "role", "area", "active"])
    return 0


def do_users_role(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub import admin

    user = admin.set_role(
        s, name=args.name, role=args.role, area=args.area, actor=_actor(args), now=now
    )
    print(f"user {user.name!r} is now {user.role}")
    return 0


def do_users_token(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub import admin

    plain = admin.token(
        s, name=args.name, label=args.label, scope=args.scope, actor=_actor(args), now=now
    )
    print(plain)
    return 0


def do_users_disable(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub import admin

    admin.disable(s, name=args.name, actor=_actor(args), now=now)
    print(f"user {args.name!r} disabled")
    return 0


# ---- crews ---------------------------------------------------------------------------


def do_crews_import(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub import admin, crew_geojson

    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise crew_geojson.GeoJsonError(f"cannot read {args.file}: {exc}") from exc
    specs = crew_geojson.parse(text)
    done = admin.import_crews(s, specs, actor=_actor(args), now=now)
    print(
        f"crews from {args.file}: {done.created} created, {done.updated} updated, "
        f"{done.unchanged} unchanged"
    )
    return 0


def do_crews_list(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub.crews import list_crews

    rows = [
        {
            "id": c.id,
            "name": c.name,
            "area": c.area,
            "rank": c.rank,
            "kinds": ",".join(c.kinds.get("kinds", [])) or "all",
            "corners": len(c.polygon.get("coordinates", [])),
        }
        for c in list_crews(s)
    ]
    _emit(args, rows, ["id", "name", "area", "rank", "kinds", "corners"])
    return 0


# ---- devices -------------------------------------------------------------------------


def do_devices_list(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub import registry

    rows = [
        {
            "id": d.id,
            "site": d.site,
            "class": d.device_class,
            "online": d.online,
            "last_seen": d.last_seen.isoformat() if d.last_seen else "",
            "retired": d.retired,
        }
        for d in registry.devices(s, retired=args.retired)
    ]
    _emit(args, rows, ["id", "site", "class", "online", "last_seen", "retired"])
    return 0


def do_devices_register(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub import registry

    registry.register(
        s, device_id=args.device, site=args.site, device_class=args.device_class,
        actor=_actor(args), now=now,
    )  # fmt: skip
    print(f"device {args.device!r} registered at {args.site!r} (running hubs take it live)")
    return 0


def do_devices_retire(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub import registry

    registry.retire(s, device_id=args.device, actor=_actor(args), now=now)
    print(f"device {args.device!r} retired")
    return 0


def do_devices_move(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub import registry

    registry.move(s, device_id=args.device, site=args.site, actor=_actor(args), now=now)
    print(f"device {args.device!r} moved to {args.site!r}")
    return 0


def do_devices_block(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub import registry

    registry.block(s, device_id=args.device, actor=_actor(args), now=now)
    print(f"device {args.device!r} blocked: its messages are dropped and counted")
    return 0


def do_devices_unblock(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub import registry

    registry.unblock(s, device_id=args.device, actor=_actor(args), now=now)
    print(f"device {args.device!r} unblocked")
    return 0


def do_devices_unregistered(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub import registry

    rows = [
        {
            "id": u.id,
            "first_seen": u.first_seen.isoformat(),
            "last_seen": u.last_seen.isoformat(),
            "count": u.count,
            "blocked": u.blocked,
            "site": u.claims.get("site", ""),
            "class": u.claims.get("device_class", ""),
            "assets": len(u.claims.get("assets", [])),
        }
        for u in registry.unregistered(s)
    ]
    _emit(
        args,
        rows,
        ["id", "first_seen", "last_seen", "count", "blocked", "site", "class", "assets"],
    )
    return 0


# ---- audit ---------------------------------------------------------------------------


def do_audit(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub import audit

    rows = [
        {
            "at": e.at.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "target": e.target,
            "before": json.dumps(e.before, sort_keys=True) if e.before is not None else "",
            "after": json.dumps(e.after, sort_keys=True) if e.after is not None else "",
        }
        for e in audit.entries(s, limit=args.limit, action=args.action, target=args.target)
    ]
    _emit(args, rows, ["at", "actor", "action", "target", "before", "after"])
    return 0


# ---- the parser ----------------------------------------------------------------------


def register(sub: Subcommands) -> None:
    """Add ``trygg admin`` and its groups to ``sub``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url", help="the hub's database (default: TRYGG_DATABASE_URL, else the hub's)"
    )
    common.add_argument("--actor", help="who is recorded in the audit trail (default: OS user)")
    listing = argparse.ArgumentParser(add_help=False)
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")

    admin = sub.add_parser("admin", help="set up and administer an installation")
    groups = admin.add_subparsers(dest="admin_group", required=True)

    def leaf(
        parent: Subcommands,
        name: str,
        action: Action,
        text: str,
        *,
        lists: bool = False,
    ) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=text, parents=[common, listing] if lists else [common])
        p.set_defaults(func=_run(action))
        return p

    p = leaf(groups, "init", do_init, "create the first admin (password and token shown once)")
    p.add_argument("--name", default="admin")

    users = groups.add_parser("users", help="users, roles and tokens").add_subparsers(
        dest="admin_action", required=True
    )
    p = leaf(users, "add", do_users_add, "add a user")
    p.add_argument("name")
    p.add_argument("--role", required=True, help="crew, operator or admin")
    p.add_argument("--area", help="the crew's area (crew users need one)")
    p.add_argument("--password-stdin", action="store_true", help="read a login password from stdin")
    leaf(users, "list", do_users_list, "list users", lists=True)
    p = leaf(users, "role", do_users_role, "change a user's role")
    p.add_argument("name")
    p.add_argument("role", help="crew, operator or admin")
    p.add_argument("--area")
    p = leaf(users, "token", do_users_token, "issue a token (printed once)")
    p.add_argument("name")
    p.add_argument("--label", default="cli")
    p.add_argument("--scope", default="api", help="api or open311")
    p = leaf(users, "disable", do_users_disable, "disable a user and all their tokens")
    p.add_argument("name")

    crews = groups.add_parser("crews", help="crews and their areas").add_subparsers(
        dest="admin_action", required=True
    )
    p = leaf(crews, "import", do_crews_import, "create or update crews from a GeoJSON file")
    p.add_argument("file")
    leaf(crews, "list", do_crews_list, "list crews", lists=True)

    devices = groups.add_parser("devices", help="the device registry").add_subparsers(
        dest="admin_action", required=True
    )
    p = leaf(devices, "list", do_devices_list, "list registered devices", lists=True)
    p.add_argument("--retired", action="store_true", help="include retired devices")
    p = leaf(devices, "register", do_devices_register, "register a device (live)")
    p.add_argument("device")
    p.add_argument("--site", required=True)
    p.add_argument("--class", dest="device_class", default="pole")
    for name, action, text in (
        ("retire", do_devices_retire, "stop taking a device's messages (history kept)"),
        ("block", do_devices_block, "drop an unregistered device's messages"),
        ("unblock", do_devices_unblock, "stop dropping a device's messages"),
    ):
        leaf(devices, name, action, text).add_argument("device")
    p = leaf(devices, "move", do_devices_move, "move a device to another site")
    p.add_argument("device")
    p.add_argument("--site", required=True)
    leaf(
        devices,
        "unregistered",
        do_devices_unregistered,
        "devices heard from but not registered (and blocked ones)",
        lists=True,
    )

    p = leaf(groups, "audit", do_audit, "the audit trail, newest first", lists=True)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--action")
    p.add_argument("--target")
