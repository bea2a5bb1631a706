"""``trygg partners``: partner organisations, their places and users (added by the hub
area's ``hub.cli.register``). Exit codes and auditing as ``trygg admin``: 0 done, 1 refused
(nothing changed), 3 the database cannot be reached; the actor is ``--actor`` or the OS user.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from sqlalchemy.orm import Session

from hub.admin_cli import Action, _actor, _emit, _run
from trygg.cli import Subcommands


def do_list(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub.partners import orgs

    rows = [
        {"name": o.name, "kind": o.kind, "places": ", ".join(o.places), "users": ", ".join(o.users)}
        for o in orgs.orgs(s)
    ]
    _emit(args, rows, ["name", "kind", "places", "users"])
    return 0


def do_add(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub.partners import orgs

    org = orgs.add_org(s, name=args.name, kind=args.kind, actor=_actor(args), now=now)
    print(f"partner {org.name!r} added ({org.kind})")
    return 0


def do_remove(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub.partners import orgs

    orgs.remove_org(s, name=args.name, actor=_actor(args), now=now)
    print(f"partner {args.name!r} removed; its users are disabled")
    return 0


def do_place(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub.partners import orgs

    change = orgs.link_place if args.partner_action == "place-add" else orgs.unlink_place
    org = change(s, org=args.name, place=args.place, actor=_actor(args), now=now)
    print(f"partner {org.name!r} sees: {', '.join(org.places) or '(no place)'}")
    return 0


def do_user(s: Session, args: argparse.Namespace, now: datetime) -> int:
    from hub.partners import orgs

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    user = orgs.add_user(
        s, org=args.name, name=args.user, password=password, actor=_actor(args), now=now
    )
    print(f"partner user {user.name!r} added to {args.name!r}")
    return 0


def register(sub: Subcommands) -> None:
    """Add ``trygg partners`` and its actions to ``sub``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url", help="the hub's database (default: TRYGG_DATABASE_URL, else the hub's)"
    )
    common.add_argument("--actor", help="who is recorded in the audit trail (default: OS user)")
    acts = sub.add_parser(
        "partners", help="partner organisations who see only their places"
    ).add_subparsers(dest="partner_action", required=True)

    def leaf(name: str, action: Action, text: str) -> argparse.ArgumentParser:
        p = acts.add_parser(name, help=text, parents=[common])
        p.set_defaults(func=_run(action))
        return p

    leaf("list", do_list, "list organisations").add_argument(
        "--json", action="store_true", help="JSON instead of a table"
    )
    p = leaf("add", do_add, "add an organisation")
    p.add_argument("name")
    p.add_argument("--kind", required=True, help="property, centre, police, security or other")
    leaf("remove", do_remove, "remove an organisation and disable its users").add_argument("name")
    for name, text in (("place-add", "let it see a place"), ("place-remove", "stop that")):
        p = leaf(name, do_place, text)
        p.add_argument("name")
        p.add_argument("place")
    p = leaf("user-add", do_user, "add a partner user (then: trygg admin users token USER)")
    p.add_argument("name")
    p.add_argument("user")
    p.add_argument("--password-stdin", action="store_true", help="read a login password from stdin")
