"""``trygg hub`` and ``trygg hub-settings`` (found by trygg.cli through the entry points), and
the follow-up's ``trygg places`` and ``trygg report``, ``trygg partners`` and ``trygg fleet``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trygg.cli import Subcommands


def cmd_hub(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from hub.app import Hub
    from hub.settings_env import SettingsError, load
    from trygg.clock import SystemClock

    flags = {
        "mqtt_port": args.mqtt_port,
        "influx_url": args.influx_url,
        "database_url": args.database_url,
        "api_port": args.api_port,
    }
    try:
        settings = load({k: v for k, v in flags.items() if v is not None})
    except SettingsError as exc:
        sys.stderr.write(f"trygg hub: refusing to start:\n{exc}\n")
        return 2

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await Hub.build(settings, SystemClock()).run(stop)

    asyncio.run(main())
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    from hub.settings_doc import render

    text = render()
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def register(sub: Subcommands) -> None:
    """Add this area's subcommands to ``sub``; each sets ``func=<callable(args) -> int>``."""
    p = sub.add_parser("hub", help="run the hub (settings from TRYGG_* variables)")
    p.add_argument("--mqtt-port", type=int)
    p.add_argument("--influx-url")
    p.add_argument("--database-url")
    p.add_argument("--api-port", type=int)
    p.set_defaults(func=cmd_hub)

    p = sub.add_parser(
        "hub-settings", help="every TRYGG_* variable of the hub as Markdown (docs/configuration.md)"
    )
    p.add_argument("--output", "-o", help="write to this file instead of standard output")
    p.set_defaults(func=cmd_settings)

    from hub import admin_cli
    from hub.alerts.cli import register as register_events
    from hub.backup.cli import register as register_backup
    from hub.followup.cli import register as register_followup
    from hub.partners.cli import register as register_partners
    from hub.releases.cli import register as register_fleet

    admin_cli.register(sub)
    register_events(sub)
    register_backup(sub)
    register_followup(sub)
    register_partners(sub)
    register_fleet(sub)
