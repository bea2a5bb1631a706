"""``trygg release keygen|build|verify``: a city's release key and its signed bundles.

The private key stays with whoever signs releases (an offline machine is best); poles and the
hub get only the public key.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from trygg.cli import Subcommands


def _keygen(args: argparse.Namespace) -> int:
    from trygg import release as r

    priv, pub = r.save_keypair(Path(args.output), r.generate_key())
    sys.stdout.write(f"private key {priv} (keep it offline)\npublic key  {pub}\n")
    return 0


def _build(args: argparse.Namespace) -> int:
    from trygg import release as r

    sources = [
        *(r.Source(Path(p), "wheel") for p in args.wheel),
        *(r.Source(Path(p), "config") for p in args.config),
        *(r.Source(Path(p), "model") for p in args.model),
    ]
    if not sources:
        raise r.ReleaseError("a release needs at least one --wheel, --config or --model")
    bundle = r.build_bundle(
        Path(args.output),
        private_key=r.load_private_key(Path(args.key)),
        version=args.version,
        sources=sources,
        created_ms=int(time.time() * 1000),
        notes=args.notes,
    )
    sys.stdout.write(f"{bundle.id}\n")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from trygg import release as r

    keys = r.load_public_keys(Path(p) for p in args.pub)
    bundle = r.load_bundle(Path(args.bundle), keys)
    m = bundle.manifest
    sys.stdout.write(f"{bundle.id} ok: version {m.version}, {len(m.files)} file(s)\n")
    for f in m.files:
        sys.stdout.write(f"  {f.role:<6} {f.path} {f.size} {f.sha256}\n")
    return 0


def _checked(args: argparse.Namespace) -> int:
    from trygg.release import ReleaseError

    try:
        code: int = args.release_func(args)
    except (ReleaseError, OSError) as exc:
        sys.stderr.write(f"trygg release {args.release_command}: {exc}\n")
        return 1
    return code


_actions: list[Subcommands] = []


def actions() -> Subcommands:
    """The ``trygg release`` actions of the parser being built, for an area to add its own
    (the hub's ``publish``: ``release_cli.actions().add_parser("publish", ...)`` with
    ``release_func`` as its default). trygg.cli registers ``release`` before the areas."""
    if not _actions:
        raise RuntimeError("trygg release is not registered yet")
    return _actions[-1]


def register(sub: Subcommands) -> Subcommands:
    """Add ``release`` and its actions to ``sub``; returns the actions' subparsers."""
    p = sub.add_parser("release", help="release keys and signed release bundles")
    rsub = p.add_subparsers(dest="release_command", required=True)
    _actions.append(rsub)
    p.set_defaults(func=_checked)

    k = rsub.add_parser("keygen", help="make the city's Ed25519 release key pair")
    k.add_argument("-o", "--output", required=True, help="folder for release.key/.pub")
    k.set_defaults(release_func=_keygen)

    b = rsub.add_parser("build", help="build and sign a release bundle")
    b.add_argument("--key", required=True, help="the release private key (PEM)")
    b.add_argument("--version", required=True, help="a human name, e.g. 2026.12.1")
    b.add_argument("--wheel", action="append", default=[], help="a wheel (repeat)")
    b.add_argument("--config", action="append", default=[], help="a config file (repeat)")
    b.add_argument("--model", action="append", default=[], help="a model file (repeat)")
    b.add_argument("--notes", default="")
    b.add_argument("-o", "--output", required=True, help="new or empty bundle folder")
    b.set_defaults(release_func=_build)

    v = rsub.add_parser("verify", help="check a bundle's signature and every file's hash")
    v.add_argument("bundle")
    v.add_argument("--pub", action="append", required=True, help="a release public key")
    v.set_defaults(release_func=_verify)
    return rsub
