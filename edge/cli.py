"""``trygg`` subcommands of the edge area (found by trygg.cli through the entry points).

``trygg edge --config FILE`` (the Pi's process), ``trygg vision health|crowd`` (on-pole
vision tools, numbers only), ``trygg provision device|revoke|renew|retire ID``,
``trygg provision broker|renew-broker|crl|issuing-ca|maintain`` (see docs/certificates.md) and
``trygg edge-check FILE...`` (validate device files without running anything).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trygg.cli import Subcommands


def _provision(args: argparse.Namespace) -> int:
    from edge.provision import Provisioner, ProvisionError
    from trygg.pki import PkiError

    p = Provisioner(
        config_dir=Path(args.config_dir),
        secrets_dir=Path(args.secrets),
        broker_host=args.broker_host,
    )
    out = sys.stdout.write
    reload_broker = False
    try:
        if args.action == "device":
            bundle = p.device(args.id)
            out(f"{args.id}: bundle {bundle} (unpack into /etc/trygg on the Pi)\n")
            reload_broker = True
        elif args.action == "revoke":
            p.revoke(args.id)
            out(f"{args.id}: revoked\n")
            reload_broker = True
        elif args.action == "renew":
            bundle = p.renew(args.id)
            out(
                f"{args.id}: new bundle {bundle}; install it on the Pi, then run "
                f"`trygg provision retire {args.id}` to revoke the old certificate\n"
            )
        elif args.action == "retire":
            serials = p.retire(args.id)
            out(f"{args.id}: revoked superseded certificate(s) {', '.join(serials) or 'none'}\n")
            reload_broker = bool(serials)
        elif args.action == "renew-broker":
            files = p.renew_broker()
            out(f"broker: new certificate {files.certfile}\n")
            reload_broker = True
        elif args.action == "issuing-ca":
            folder = p.issuing_ca()
            out(f"issuing CA in {folder}: point the hub's TRYGG_CERT_ISSUING_DIR at it\n")
            reload_broker = True
        elif args.action == "maintain":
            done = p.maintain()
            verb = "re-signed" if done.crl.resigned else "still fresh"
            out(f"crl: {verb}, valid until {done.crl.crl.next_update.isoformat()}\n")
            if done.broker_renewed:
                out("broker: certificate renewed\n")
            for note in done.notes:
                out(f"attention: {note}\n")
            copied = _copy_if_changed(p.secrets / "broker" / "crl.pem", args.copy_to)
            reload_broker = done.broker_changed or copied
        elif args.action == "crl":
            status = p.crl(force=args.force)
            verb = "re-signed" if status.resigned else "still fresh"
            out(f"crl: {verb}, valid until {status.crl.next_update.isoformat()}\n")
            copied = _copy_if_changed(p.secrets / "broker" / "crl.pem", args.copy_to)
            reload_broker = status.broker_changed or copied
        else:
            files = p.broker()
            out(f"broker files in {files.acl.parent}\n")
            reload_broker = True
        if reload_broker:
            out(_reload(args.hup_pid_file))
    except (ProvisionError, PkiError, OSError) as exc:
        sys.stderr.write(f"trygg provision {args.action}: {exc}\n")
        return 1
    return 0


def _copy_if_changed(source: Path, target: str | None) -> bool:
    """Copy ``source`` to ``target`` atomically when their contents differ."""
    if not target:
        return False
    dest = Path(target)
    data = source.read_bytes()
    if dest.exists() and dest.read_bytes() == data:
        return False
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    tmp.replace(dest)
    return True


def _reload(pid_file: str | None) -> str:
    """SIGHUP to the broker whose pid is in ``pid_file``: Mosquitto 2 then re-reads its
    password file, ACL, certificate and CRL."""
    if not pid_file:
        return "broker files changed: send Mosquitto SIGHUP (systemctl reload mosquitto)\n"
    import os
    import signal

    text = Path(pid_file).read_text().split()
    if not text or not text[0].isdigit():
        raise OSError(f"{pid_file} holds no process id")
    pid = int(text[0])
    os.kill(pid, signal.SIGHUP)
    return f"sent SIGHUP to the broker (pid {pid})\n"


def _run(args: argparse.Namespace) -> int:
    # The Pi's process (sd_notify, clock-sync probe, reload) lives in edge.main.
    from edge.main import run

    return run(Path(args.config))


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


_NEEDS_ID = ("device", "revoke", "renew", "retire")


def register(sub: Subcommands) -> None:
    """Add this area's subcommands to ``sub``; each sets ``func=<callable(args) -> int>``."""
    from edge.vision import crowd_cli, health_cli

    p = sub.add_parser("edge", help="run the edge agent of one device")
    p.add_argument("--config", required=True, help="the device's YAML file")
    p.set_defaults(func=_run)

    vision = sub.add_parser("vision", help="on-pole vision tools (numbers only, no images out)")
    vsub = vision.add_subparsers(dest="vision_command", required=True)
    health_cli.add_parser(vsub)
    crowd_cli.add_parser(vsub)

    p = sub.add_parser("provision", help="device identity, broker credentials and ACL")
    p.add_argument(
        "action",
        choices=[*_NEEDS_ID, "broker", "renew-broker", "crl", "issuing-ca", "maintain"],
    )
    p.add_argument("id", nargs="?", help="device id (for " + ", ".join(_NEEDS_ID) + ")")
    p.add_argument("--config-dir", default="firmware-config")
    p.add_argument("--secrets", default="state/pki", help="CA, keys and broker files")
    p.add_argument("--broker-host", default="localhost", help="name in the broker certificate")
    p.add_argument("--force", action="store_true", help="crl: re-sign even if still fresh")
    p.add_argument(
        "--copy-to", help="crl, maintain: also keep this copy of the broker's CRL up to date"
    )
    p.add_argument(
        "--hup-pid-file",
        help="send SIGHUP to the broker with this pid file when its files changed",
    )
    p.set_defaults(func=_provision_checked)

    p = sub.add_parser("edge-check", help="validate device config files")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=_check)


def _provision_checked(args: argparse.Namespace) -> int:
    if args.action in _NEEDS_ID and not args.id:
        sys.stderr.write(f"trygg provision {args.action}: a device id is required\n")
        return 2
    return _provision(args)
