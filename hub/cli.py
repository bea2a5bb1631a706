"""``trygg`` subcommands of this area (registered by trygg.cli)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this area's subcommands to ``sub``; each sets ``func=<callable(args) -> int>``."""
    del sub
