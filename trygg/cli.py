"""``trygg``: one command with subcommands for every role (stack, hub, edge, sim, demo, ...)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from trygg import contract

Handler = Callable[[argparse.Namespace], int]


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


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


def cmd_hub(args: argparse.Namespace) -> int:
    from hub.app import Hub
    from hub.settings import from_env
    from trygg.clock import SystemClock

    settings = from_env(
        **{
            k: v
            for k, v in {
                "mqtt_port": args.mqtt_port,
                "influx_url": args.influx_url,
                "database_url": args.database_url,
                "api_port": args.api_port,
            }.items()
            if v is not None
        }
    )

    async def main() -> None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        await Hub.build(settings, SystemClock()).run(stop)

    asyncio.run(main())
    return 0


def cmd_edge(args: argparse.Namespace) -> int:
    # The Pi's process (sd_notify, clock-sync probe, reload) lives with the edge area.
    from edge.main import run

    return run(Path(args.config))


def cmd_vision_group(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from edge.vision import crowd_cli, health_cli

    vision = sub.add_parser("vision", help="on-pole vision tools (numbers only, no images out)")
    vsub = vision.add_subparsers(dest="vision_command", required=True)
    health_cli.add_parser(vsub)
    crowd_cli.add_parser(vsub)


# Each area adds its own subcommands from its own module (``register(sub)``).
PLUGINS: tuple[str, ...] = ("edge.cli", "hub.cli", "dashboards.cli", "sim.cli")


def _register_plugins(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    import importlib

    for name in PLUGINS:
        importlib.import_module(name).register(sub)


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

    p = sub.add_parser("hub", help="run the hub (settings from TRYGG_* variables)")
    p.add_argument("--mqtt-port", type=int)
    p.add_argument("--influx-url")
    p.add_argument("--database-url")
    p.add_argument("--api-port", type=int)
    p.set_defaults(func=cmd_hub)

    p = sub.add_parser("edge", help="run the edge agent of one device")
    p.add_argument("--config", required=True, help="the device's YAML file")
    p.set_defaults(func=cmd_edge)

    cmd_vision_group(sub)
    _register_plugins(sub)
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
