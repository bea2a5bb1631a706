"""``trygg places`` and ``trygg report`` (added by the hub area's ``hub.cli.register``).

Both open the hub database at ``--database-url`` (default: ``TRYGG_DATABASE_URL``, else
the hub's default) and migrate it to the newest schema first, as the hub does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from trygg.cli import Subcommands

DEFAULT_URL = "sqlite:///state/hub.sqlite"


def _sessions(args: argparse.Namespace) -> Any:
    from hub.db import open_database

    return open_database(args.database_url or os.environ.get("TRYGG_DATABASE_URL", DEFAULT_URL))


def _fail(msg: str) -> int:
    sys.stderr.write(f"trygg: {msg}\n")
    return 2


def _read_json(text_or_path: str) -> Any:
    path = Path(text_or_path)
    raw = path.read_text(encoding="utf-8") if path.is_file() else text_or_path
    return json.loads(raw)


def cmd_places(args: argparse.Namespace) -> int:
    from hub.places import PlaceError, make_place, places_from_feature_collection
    from hub.places_store import get_place, list_places, place_assets, remove_place, save_places
    from trygg.clock import SystemClock

    try:
        if args.action == "add":
            place = make_place(args.name, args.kind, _read_json(args.polygon))
            with _sessions(args).begin() as s:
                save_places(s, [place], now=SystemClock().now())
            sys.stdout.write(f"saved {place.name} ({place.kind})\n")
        elif args.action == "import":
            places = places_from_feature_collection(_read_json(args.file), default_kind=args.kind)
            with _sessions(args).begin() as s:
                n = save_places(s, places, now=SystemClock().now())
            sys.stdout.write(f"saved {n} places\n")
        elif args.action == "list":
            with _sessions(args)() as s:
                for p in list_places(s):
                    sys.stdout.write(f"{p.name}\t{p.kind}\t{len(place_assets(s, p))} assets\n")
        elif args.action == "show":
            with _sessions(args)() as s:
                p = get_place(s, args.name)
                assets = sorted(place_assets(s, p))
            doc = {"name": p.name, "kind": p.kind, "geometry": p.geometry(), "assets": assets}
            sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        else:
            with _sessions(args).begin() as s:
                remove_place(s, args.name)
            sys.stdout.write(f"removed {args.name}\n")
    except (PlaceError, json.JSONDecodeError, OSError) as exc:
        return _fail(str(exc))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from hub.followup.load import build_report
    from hub.followup.periods import between, parse_period
    from hub.followup.render import render
    from hub.places import PlaceError

    try:
        if args.period:
            period = parse_period(args.period)
        elif args.date_from and args.date_to:
            period = between(args.date_from, args.date_to)
        else:
            return _fail("report: give --period, or --from and --to")
        if args.format in ("pdf", "xlsx") and not args.output:
            return _fail(f"report: {args.format.upper()} needs --output FILE")
        with _sessions(args)() as s:
            r = build_report(s, period, place=args.place)
        if args.format == "pdf":
            from hub.followup.pdf import to_pdf

            Path(args.output).write_bytes(to_pdf(r, args.lang))
            return 0
        if args.format == "xlsx":
            from hub.followup.xlsx import to_xlsx

            Path(args.output).write_bytes(to_xlsx(r, args.lang))
            return 0
        text = render(r, args.format, args.lang)
    except (ValueError, PlaceError) as exc:
        return _fail(f"report: {exc}")
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def register(sub: Subcommands) -> None:
    """Add ``places`` and ``report``; each sets ``func=<callable(args) -> int>``."""
    p = sub.add_parser("places", help="named places (squares, stations, districts, arenas)")
    p.add_argument("--database-url")
    acts = p.add_subparsers(dest="action", required=True)
    a = acts.add_parser("add", help="create or replace a place")
    a.add_argument("name")
    a.add_argument("--kind", required=True)
    a.add_argument("--polygon", required=True, help="GeoJSON geometry, or a file holding it")
    a = acts.add_parser("import", help="places from a GeoJSON FeatureCollection")
    a.add_argument("file")
    a.add_argument("--kind", default="square", help="for features without properties.kind")
    acts.add_parser("list", help="every place with its number of assets")
    for action in ("show", "remove"):
        a = acts.add_parser(action, help=f"{action} one place")
        a.add_argument("name")
    p.set_defaults(func=cmd_places)

    p = sub.add_parser("report", help="follow-up figures for a period and place")
    p.add_argument("--database-url")
    p.add_argument("--period", help="2026-03, 2026-Q1, 2026-T1, 2026 or A..B")
    p.add_argument("--from", dest="date_from", help="first day (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", help="last day, included")
    p.add_argument("--place", help="a place's name (default: the whole city)")
    p.add_argument("--lang", choices=("sv", "en"), default="sv")
    p.add_argument("--format", choices=("json", "csv", "html", "pdf", "xlsx"), default="html")
    p.add_argument("--output", "-o", help="write to this file instead of standard output")
    p.set_defaults(func=cmd_report)
