"""``trygg events add|list|show|remove|load``: an operator's events in the hub's database.

Times without an offset are Stockholm wall-clock times. The database is the hub's
(``TRYGG_DATABASE_URL`` or ``--database-url``); the running hub picks a change up within one
rules tick. A bad event or file is refused with the reason and nothing is stored.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from trygg.cli import Subcommands


def _sessions(args: argparse.Namespace) -> Any:
    from hub.db import open_database
    from hub.settings_env import load

    flags = {"database_url": args.database_url} if args.database_url else {}
    return open_database(load(flags).database_url)


def _phase(text: str) -> dict[str, Any]:
    """``egress=2026-06-01T21:30/2026-06-01T22:30[,threshold=0.8][,duration=0.5]``."""
    name, _, rest = text.partition("=")
    span, *opts = rest.split(",")
    start, _, end = span.partition("/")
    out: dict[str, Any] = {"name": name, "start": start, "end": end}
    keys = {"threshold": "thresholdFactor", "duration": "durationFactor"}
    for opt in opts:
        key, _, value = opt.partition("=")
        if key not in keys:
            raise ValueError(f"phase option {key!r}: expected threshold or duration")
        out[keys[key]] = float(value)
    return out


def _store(args: argparse.Namespace, data: list[Any], *, replace: bool) -> int:
    from sqlalchemy import select

    from hub.alerts import store
    from hub.alerts.event_spec import parse_event
    from hub.db import Asset
    from trygg.clock import SystemClock

    try:
        events = [parse_event(d) for d in data]
    except ValueError as exc:
        sys.stderr.write(f"trygg events: refused: {exc}\n")
        return 2
    sessions = _sessions(args)
    now = SystemClock().now()
    with sessions.begin() as s:
        zones = {z for ev in events for z in ev.zones}
        known = set(s.scalars(select(Asset.id).where(Asset.id.in_(sorted(zones)))))
        if missing := sorted(zones - known):
            sys.stderr.write(f"trygg events: refused: unknown zones {missing}\n")
            return 2
        for ev in events:
            if not replace and store.get_event(s, ev.name) is not None:
                sys.stderr.write(f"trygg events: refused: event {ev.name!r} exists\n")
                s.rollback()
                return 2
            store.save_event(s, ev, now=now)
    for ev in events:
        sys.stdout.write(f"event {ev.name}: {len(ev.zones)} zones, {len(ev.phases)} phases\n")
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    from hub.alerts import store
    from hub.alerts.event_spec import event_json

    if args.action == "add":
        try:
            phases = [_phase(p) for p in args.phase]
        except ValueError as exc:
            sys.stderr.write(f"trygg events: refused: {exc}\n")
            return 2
        data = {
            "name": args.name,
            "place": args.place,
            "zones": args.zone,
            "expectedAttendance": args.attendance,
            "phases": phases,
        }
        return _store(args, [data], replace=False)
    if args.action == "load":
        import yaml

        try:
            loaded = yaml.safe_load(Path(args.file).read_text())
        except (OSError, yaml.YAMLError) as exc:
            sys.stderr.write(f"trygg events: cannot read {args.file}: {exc}\n")
            return 2
        items = loaded if isinstance(loaded, list) else [loaded]
        return _store(args, items, replace=True)
    sessions = _sessions(args)
    with sessions.begin() as s:
        if args.action == "list":
            for ev in store.events(s):
                times = ", ".join(f"{p.name} {p.start:%Y-%m-%d %H:%M}Z" for p in ev.phases)
                sys.stdout.write(f"{ev.name}\t{ev.place}\t{len(ev.zones)} zones\t{times}\n")
            return 0
        if args.action == "show":
            found = store.get_event(s, args.name)
            if found is None:
                sys.stderr.write(f"trygg events: no event {args.name!r}\n")
                return 1
            sys.stdout.write(json.dumps(event_json(found), indent=2, ensure_ascii=False) + "\n")
            return 0
        if not store.remove_event(s, args.name):
            sys.stderr.write(f"trygg events: no event {args.name!r}\n")
            return 1
        sys.stdout.write(f"event {args.name} removed\n")
        return 0


def register(sub: Subcommands) -> None:
    """Add ``trygg events`` to ``sub``."""
    p = sub.add_parser("events", help="events (matches, concerts) whose phases sharpen alerts")
    p.add_argument("--database-url", help="the hub's database (default: TRYGG_DATABASE_URL)")
    act = p.add_subparsers(dest="action", required=True)
    add = act.add_parser("add", help="add one event")
    add.add_argument("--name", required=True)
    add.add_argument("--place", required=True)
    add.add_argument("--zone", action="append", required=True, help="a crowd zone's asset id")
    add.add_argument("--attendance", type=int, required=True, help="expected attendance")
    add.add_argument(
        "--phase",
        action="append",
        required=True,
        help="NAME=START/END[,threshold=F][,duration=F], e.g. "
        "egress=2026-06-01T21:30/2026-06-01T22:30,threshold=0.8",
    )
    act.add_parser("list", help="every event")
    for name, text in (("show", "one event as JSON (UTC)"), ("remove", "remove one event")):
        one = act.add_parser(name, help=text)
        one.add_argument("name")
    load = act.add_parser("load", help="add or replace the events of a YAML file")
    load.add_argument("file")
    p.set_defaults(func=cmd_events)
