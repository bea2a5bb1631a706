"""``trygg demo`` and ``trygg sim`` (registered by trygg.cli)."""

from __future__ import annotations

import argparse
from pathlib import Path

from trygg.cli import Subcommands


def _common(p: argparse.ArgumentParser, *, state_dir: str) -> None:
    from sim.demo import DEFAULT_SCENARIO

    p.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO, help="scenario YAML")
    p.add_argument("--devices", type=int, help="city size (overrides the scenario)")
    p.add_argument("--seed", type=int, help="overrides the scenario's seed")
    p.add_argument("--speed", type=float, help="simulated seconds per real second")
    p.add_argument("--state-dir", type=Path, default=Path(state_dir))
    p.add_argument("--api-port", type=int, default=8080)
    p.add_argument("--processes", type=int, help="worker processes (default: by city size)")
    p.add_argument(
        "--interval", type=float, help="every sensor and the flush every N simulated seconds"
    )
    p.add_argument("--json", type=Path, help="where to write the score (default: state dir)")


def _options(args: argparse.Namespace, *, live: bool) -> object:
    from sim.demo import Options

    return Options(
        scenario=args.scenario,
        state_dir=args.state_dir,
        devices=args.devices,
        seed=args.seed,
        speed=args.speed,
        duration_s=args.duration,
        api_port=args.api_port,
        processes=args.processes,
        interval_s=args.interval,
        json_path=args.json,
        live=live,
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from sim.demo import Options, run_demo

    opts = _options(args, live=True)
    assert isinstance(opts, Options)
    return run_demo(opts)


def cmd_sim(args: argparse.Namespace) -> int:
    from sim.demo import Options, run_sim

    opts = _options(args, live=args.live)
    assert isinstance(opts, Options)
    return run_sim(opts, mqtt_port=args.mqtt_port)


def register(sub: Subcommands) -> None:
    """Add ``demo`` and ``sim``; each sets ``func=<callable(args) -> int>``."""
    p = sub.add_parser(
        "demo", help="the default scenario on the local stack, live view and score table"
    )
    _common(p, state_dir="state/demo")
    p.add_argument(
        "--duration",
        type=float,
        help="play the whole scenario in this many real seconds (sets the speed)",
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sim", help="a simulated fleet from a scenario, at any size and speed")
    _common(p, state_dir="state/sim")
    p.add_argument(
        "--duration", type=float, help="real seconds (fleet-only: run time; else: fit scenario)"
    )
    p.add_argument(
        "--mqtt-port", type=int, help="run only the fleet against this broker (hub elsewhere)"
    )
    p.add_argument("--live", action="store_true", help="live view (off by default for sim)")
    p.set_defaults(func=cmd_sim)
