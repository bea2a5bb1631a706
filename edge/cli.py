"""``trygg`` subcommands of the edge area (registered by trygg.cli).

``trygg provision device ID`` / ``trygg provision revoke ID`` / ``trygg provision broker``
and ``trygg edge-check FILE...`` (validate device files without running anything).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _provision(args: argparse.Namespace) -> int:
    from edge.pki import PkiError
    from edge.provision import Provisioner, ProvisionError

    p = Provisioner(
        config_dir=Path(args.config_dir),
        secrets_dir=Path(args.secrets),
        broker_host=args.broker_host,
    )
    try:
        if args.action == "device":
            bundle = p.device(args.id)
            sys.stdout.write(f"{args.id}: bundle {bundle} (unpack into /etc/trygg on the Pi)\n")
        elif args.action == "revoke":
            p.revoke(args.id)
            sys.stdout.write(
                f"{args.id}: revoked; reload the broker (SIGHUP for passwd/acl, restart for CRL)\n"
            )
        else:
            files = p.broker()
            sys.stdout.write(f"broker files in {files.acl.parent}\n")
    except (ProvisionError, PkiError) as exc:
        sys.stderr.write(f"trygg provision: {exc}\n")
        return 1
    return 0


def _check(args: argparse.Namespace) -> int:
    from edge.config import ConfigError, load_device_config

    failed = 0
    for name in args.files:
        try:
            config = load_device_config(Path(name))
        except ConfigError as exc:
            sys.stderr.write(f"{exc}\n")
            failed += 1
        else:
            sys.stdout.write(
                f"{name}: ok ({config.id}, {sum(len(a.sensors) for a in config.assets)} sensors, "
                f"outbox {config.outbox_capacity()} readings)\n"
            )
    return 2 if failed else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this area's subcommands to ``sub``; each sets ``func=<callable(args) -> int>``."""
    p = sub.add_parser("provision", help="device identity, broker credentials and ACL")
    p.add_argument("action", choices=["device", "revoke", "broker"])
    p.add_argument("id", nargs="?", help="device id (for device and revoke)")
    p.add_argument("--config-dir", default="firmware-config")
    p.add_argument("--secrets", default="state/pki", help="CA, keys and broker files")
    p.add_argument("--broker-host", default="localhost", help="name in the broker certificate")
    p.set_defaults(func=_provision_checked)

    p = sub.add_parser("edge-check", help="validate device config files")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=_check)


def _provision_checked(args: argparse.Namespace) -> int:
    if args.action in ("device", "revoke") and not args.id:
        sys.stderr.write(f"trygg provision {args.action}: a device id is required\n")
        return 2
    return _provision(args)
