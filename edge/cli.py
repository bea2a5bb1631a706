"""``trygg`` subcommands of the edge area (found by trygg.cli through the entry points).

``trygg edge --config FILE`` (the Pi's process), ``trygg vision health|crowd`` (on-pole
vision tools, numbers only), ``trygg provision device|revoke|renew|retire ID``,
``trygg provision broker|renew-broker|crl|issuing-ca|maintain``,
``trygg provision ca-rollover start|activate|status|finish`` (see docs/certificates.md) and
``trygg edge-check FILE...`` (validate device files without running anything).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from trygg.cli import Subcommands

if TYPE_CHECKING:
    from edge.provision import Provisioner


def _provision(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from edge import ca_rollover
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
            synced = _sync_dirs(p, args)
            # the broker must have reloaded the next CA's files before the hub signs with it:
            # never in the run that copied them
            if not synced and ca_rollover.activate(p, now=datetime.now(UTC)):
                out("CA rollover: the hub now signs with the next issuing CA\n")
            reload_broker = done.broker_changed or copied or synced
        elif args.action == "ca-rollover":
            reload_broker = _ca_rollover(p, args)
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


_ROLLOVER = ("start", "activate", "status", "finish")


def _ca_rollover(p: Provisioner, args: argparse.Namespace) -> bool:
    """``ca-rollover start|activate|status|finish``; True when the broker's files changed."""
    from datetime import UTC, datetime

    from edge import ca_rollover
    from edge.provision import ProvisionError

    step, now, out = args.id, datetime.now(UTC), sys.stdout.write
    if step not in _ROLLOVER:
        raise ProvisionError(f"ca-rollover needs one of {', '.join(_ROLLOVER)}, not {step!r}")
    if step == "status":
        for line in ca_rollover.status(p).lines():
            out(line + "\n")
        return False
    if step == "finish":
        done = ca_rollover.finish(p, now=now, force=args.force)
        out(f"CA rollover finished: {len(done.moved)} pole(s) on the new CA\n")
        for device in done.missing:
            out(f"locked out until it gets a new bundle: {device}\n")
        _sync_dirs(p, args)
        return True
    if step == "activate":
        done_now = ca_rollover.activate(p)
        out("the hub signs with the next issuing CA\n" if done_now else "nothing to activate\n")
        return False
    for line in ca_rollover.start(p, now=now).lines():
        out(line + "\n")
    _sync_dirs(p, args)
    if args.hup_pid_file:
        out(_reload(args.hup_pid_file))
        ca_rollover.activate(p)
        out("the hub signs with the next issuing CA\n")
        return False
    out(
        "once the broker has reloaded, run `trygg provision ca-rollover activate` "
        f"(`maintain` does it {ca_rollover.ACTIVATE_AFTER} after this start)\n"
    )
    return True


# what Mosquitto reads from the provisioning folder's broker/, and the hub's CA file
_BROKER_FILES = ("passwd", "acl", "broker.crt", "broker.key", "crl.pem", "ca.crt")


def _sync_dirs(p: Provisioner, args: argparse.Namespace) -> bool:
    """Copy the broker's files to ``--broker-dir`` and the trusted CAs to ``--hub-dir``
    (the compose stack's deploy/secrets/...) where they differ; True when any changed."""
    changed = False
    broker = p.secrets / "broker"
    if args.broker_dir:
        for name in _BROKER_FILES:
            changed |= _copy_if_changed(broker / name, str(Path(args.broker_dir) / name))
    if args.hub_dir:
        changed |= _copy_if_changed(broker / "ca.crt", str(Path(args.hub_dir) / "ca.crt"))
    return changed


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
        choices=[
            *_NEEDS_ID, "broker", "renew-broker", "crl", "issuing-ca", "maintain", "ca-rollover",
        ],
    )  # fmt: skip
    p.add_argument(
        "id",
        nargs="?",
        help="device id (for "
        + ", ".join(_NEEDS_ID)
        + "); for ca-rollover: "
        + "|".join(_ROLLOVER),
    )
    p.add_argument("--config-dir", default="firmware-config")
    p.add_argument("--secrets", default="state/pki", help="CA, keys and broker files")
    p.add_argument("--broker-host", default="localhost", help="name in the broker certificate")
    p.add_argument(
        "--force",
        action="store_true",
        help="crl: re-sign even if still fresh; ca-rollover finish: even with poles left behind",
    )
    p.add_argument(
        "--broker-dir",
        help="maintain, ca-rollover: keep copies of the broker's files (certificate, key, CAs, "
        "CRL, passwd, acl) in this folder (the compose stack's deploy/secrets/broker)",
    )
    p.add_argument(
        "--hub-dir", help="maintain, ca-rollover: keep a copy of the trusted CAs here (ca.crt)"
    )
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
    if args.action in (*_NEEDS_ID, "ca-rollover") and not args.id:
        sys.stderr.write(f"trygg provision {args.action}: a device id is required\n")
        return 2
    return _provision(args)
