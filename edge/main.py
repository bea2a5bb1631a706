"""The agent process on a Pi: ``python -m edge --config FILE`` (also ``trygg edge``).

Loads and validates the device file (a broken file exits with status 2 and a message that
names file, key and line), reads the broker password from its file, builds the drivers,
and runs one agent under ``asyncio.run`` with SIGTERM/SIGINT as the stop trigger and
systemd notifications (READY, WATCHDOG from the main loop, STOPPING).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from edge.config import ConfigError, DeviceConfig, load_running_config
from edge.drivers.base import Driver

log = logging.getLogger(__name__)


def read_password(config: DeviceConfig) -> str | None:
    """The broker password from ``broker.password_file``; ConfigError when unreadable."""
    path = config.broker.password_file
    if path is None:
        return None
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"broker.password_file {path}: {exc}") from exc


async def run_agent(config_path: Path, config: DeviceConfig, password: str | None) -> int:
    from edge.agent import Agent
    from edge.drivers.pi_health import clock_synced
    from edge.drivers.registry import build_drivers
    from edge.sdnotify import Notifier
    from trygg.clock import SystemClock

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    notifier = Notifier()

    def factory(c: DeviceConfig) -> list[Driver]:
        return build_drivers(c.assets, state_dir=c.state_dir)

    agent = Agent(
        config=config,
        clock=SystemClock(),
        drivers=factory(config),
        password=password,
        clock_synced=clock_synced,
        watchdog=notifier.watchdog,
        config_path=config_path,
        driver_factory=factory,
    )
    notifier.ready()
    try:
        await agent.run(stop)
    finally:
        notifier.stopping()
    return agent.exit_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge", description=__doc__)
    parser.add_argument("--config", required=True, help="the device's YAML file")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return run(Path(args.config))


def run(config_path: Path) -> int:
    """Validate, then run until SIGTERM; 2 for a broken config, 0 after a clean stop,
    RESTART_EXIT when a release switch (or rollback) wants the agent started again."""
    try:
        config = load_running_config(config_path)
        password = read_password(config)
    except ConfigError as exc:
        sys.stderr.write(f"trygg edge: {exc}\n")
        return 2
    return asyncio.run(run_agent(config_path, config, password))
