"""``trygg``: one command with subcommands for every role (stack, hub, edge, sim, demo, ...).

The core here owns ``contract`` and ``stack``; each area (edge, hub, dashboards, sim) adds
its own subcommands through a ``trygg.commands`` entry point, so this module imports none of
them and an installation without an area's extra offers none of its commands.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from trygg import contract

Handler = Callable[[argparse.Namespace], int]
GROUP = "trygg.commands"
# Areas' actions under ``trygg release`` (the hub's ``publish``), given its subparsers.
RELEASE_GROUP = "trygg.release_commands"
DISTRIBUTION = "trygg"


class Subcommands(Protocol):
    """What an area's ``register`` is handed: ``add_subparsers()``'s result, whose class
    argparse keeps private."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...


def cmd_contract(args: argparse.Namespace) -> int:
    text = json.dumps(contract.json_schema(), indent=2, sort_keys=True) + "\n"
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_stack(args: argparse.Namespace) -> int:
    from trygg.stack import LocalStack, StackError, StackPorts

    state = Path(args.state_dir)
    try:
        if args.action == "up":
            stack = LocalStack(
                state_dir=state,
                ports=StackPorts(
                    mqtt=args.mqtt_port, influx=args.influx_port, influx_rpc=args.influx_rpc_port
                ),
            )
            stack.up(detach=True)
            print(
                f"mosquitto  mqtt://127.0.0.1:{args.mqtt_port}\n"
                f"influxdb   http://127.0.0.1:{args.influx_port}\nstate      {state}"
            )
        elif args.action == "down":
            LocalStack.load(state).down()
            print("stack stopped")
        else:
            print(json.dumps(LocalStack.load(state).status(), indent=2))
    except StackError as exc:
        print(f"trygg stack: {exc}", file=sys.stderr)
        return 1
    return 0


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def extra_requirements(requires: Iterable[str], extra: str) -> list[str]:
    """The distribution names ``extra`` adds, from requirement lines such as
    ``'fastapi>=0.110; extra == "hub"'``."""
    names = []
    for line in requires:
        spec, _, marker = line.partition(";")
        if extra in _EXTRA.findall(marker) and (name := _NAME.match(spec.strip())):
            names.append(name.group())
    return names


def _installed(name: str) -> bool:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def area_commands(
    installed: Callable[[str], bool] = _installed, *, group: str = GROUP
) -> list[metadata.EntryPoint]:
    """The areas' ``register(sub)`` entry points in ``group`` whose extras are ``installed``,
    by name."""
    requires = metadata.requires(DISTRIBUTION) or []

    def usable(ep: metadata.EntryPoint) -> bool:
        return all(installed(n) for e in ep.extras for n in extra_requirements(requires, e))

    return sorted(filter(usable, metadata.entry_points(group=group)), key=lambda ep: ep.name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trygg", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("contract", help="export the wire contract as JSON Schema")
    p.add_argument("--output", "-o")
    p.set_defaults(func=cmd_contract)

    p = sub.add_parser("stack", help="local Mosquitto + InfluxDB as child processes")
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--state-dir", default="state/stack")
    p.add_argument("--mqtt-port", type=int, default=1884)
    p.add_argument("--influx-port", type=int, default=8087)
    p.add_argument("--influx-rpc-port", type=int, default=8089)
    p.set_defaults(func=cmd_stack)

    from trygg import release_cli

    releases = release_cli.register(sub)
    for entry in area_commands():
        entry.load()(sub)
    for entry in area_commands(group=RELEASE_GROUP):
        entry.load()(releases)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per InfluxDB write
    handler: Handler = args.func
    return handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
