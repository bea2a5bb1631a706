"""``trygg release publish`` and ``trygg fleet releases|rollout ...``: the hub's release and
rollout API from a terminal, with the caller's own API token (so the hub audits the
person).

The hub is ``--hub`` (default ``$TRYGG_HUB_URL``, else http://127.0.0.1:8080); the token is
read from ``--token-file`` or ``$TRYGG_HUB_TOKEN``. Exit status: 0 done, 1 refused (the
hub's reason is printed), 2 usage, 3 the hub cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from trygg.cli import Subcommands

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
_SELECTORS = ("devices", "sites", "places", "share")


class UsageError(ValueError):
    """A command line the hub would refuse anyway; said before anything is sent."""


def _client(args: argparse.Namespace) -> httpx.Client:
    url = args.hub or os.environ.get("TRYGG_HUB_URL") or "http://127.0.0.1:8080"
    token = os.environ.get("TRYGG_HUB_TOKEN", "")
    if args.token_file:
        token = Path(args.token_file).read_text().strip()
    if not token:
        raise UsageError("no API token: pass --token-file or set TRYGG_HUB_TOKEN")
    return httpx.Client(
        base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=600
    )


def _call(action: Callable[[httpx.Client, argparse.Namespace], int]) -> Callable[..., int]:
    def handler(args: argparse.Namespace) -> int:
        try:
            with _client(args) as client:
                return action(client, args)
        except (UsageError, OSError) as exc:
            print(f"trygg: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except httpx.TransportError as exc:
            print(f"trygg: the hub cannot be reached: {exc}", file=sys.stderr)
            return EXIT_UNREACHABLE
        except _RefusedError as exc:
            print(f"trygg: refused ({exc.status}): {exc.detail}", file=sys.stderr)
            return EXIT_REFUSED

    return handler


class _RefusedError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def _answer(resp: httpx.Response) -> Any:
    if resp.status_code >= 400:
        try:
            detail = resp.json().get("detail", resp.text)
        except ValueError:
            detail = resp.text
        raise _RefusedError(resp.status_code, detail if isinstance(detail, str) else str(detail))
    return resp.json()


# --- trygg release publish -------------------------------------------------------------


def do_publish(client: httpx.Client, args: argparse.Namespace) -> int:
    from hub.releases.upload import pack

    bundle = Path(args.bundle)
    if not (bundle / "manifest.json").is_file():
        raise UsageError(f"{bundle} is not a release bundle (no manifest.json)")
    with tempfile.TemporaryDirectory() as tmp:
        tar = pack(bundle, Path(tmp) / "bundle.tar.gz")
        with tar.open("rb") as body:
            resp = client.post(
                "/api/v1/releases",
                content=body,
                headers={"Content-Type": "application/gzip"},
            )
    got = _answer(resp)
    what = "published" if resp.status_code == 201 else "already published"
    print(f"{got['id']} {what}: version {got['version']}, {len(got['files'])} file(s)")
    return 0


def register_publish(releases: Subcommands) -> None:
    """Add ``publish`` to ``trygg release`` (its subparsers, from :mod:`trygg.release_cli`)."""
    p = releases.add_parser(
        "publish", help="upload a signed bundle to the hub (admin token)", parents=[_common()]
    )
    p.add_argument("bundle", help="the bundle folder `trygg release build` made")
    # trygg.release_cli runs ``release_func`` and maps ReleaseError; this one maps its own.
    p.set_defaults(release_func=_call(do_publish))


# --- trygg fleet ------------------------------------------------------------------------


def parse_stage(text: str) -> dict[str, Any]:
    """``NAME=KIND:VALUES`` as a stage of the API: ``canary=devices:pole-1,pole-2``,
    ``north=sites:norr``, ``arena=places:Arenan``, ``half=share:50%`` (or ``0.5``)."""
    name, eq, spec = text.partition("=")
    kind, colon, values = spec.partition(":")
    if not (eq and colon and name and values) or kind not in _SELECTORS:
        raise UsageError(f"stage {text!r}: expected NAME=devices|sites|places|share:VALUES")
    if kind == "share":
        try:
            share = float(values.rstrip("%")) / (100 if values.endswith("%") else 1)
        except ValueError:
            raise UsageError(f"stage {text!r}: share {values!r} is not a number") from None
        return {"name": name, "share": share}
    return {"name": name, kind: [v for v in values.split(",") if v]}


def do_rollout_create(client: httpx.Client, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "release": args.release,
        "stages": [parse_stage(s) for s in args.stage],
        "failure_share": args.failure_share,
    }
    if args.deadline_s is not None:
        body["deadline_s"] = args.deadline_s
    if args.device_class:
        body["device_class"] = args.device_class
    _print_rollout(_answer(client.post("/api/v1/rollouts", json=body)), args)
    return 0


def do_rollout_list(client: httpx.Client, args: argparse.Namespace) -> int:
    rows = _answer(client.get("/api/v1/rollouts"))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("(none)")
    for ro in rows:
        print(
            f"{ro['id']:>4}  {ro['status']:<8} {ro['version']:<16} "
            f"stage {ro['current_stage'] + 1}/{len(ro['stages'])}  "
            f"{ro['healthy']}/{ro['devices']} healthy, {ro['failed']} failed  {ro['reason']}"
        )
    return 0


def _print_rollout(ro: dict[str, Any], args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(ro, indent=2))
        return
    print(
        f"rollout {ro['id']}: {ro['status']}  release {ro['version']} ({ro['release'][:12]})\n"
        f"  {ro['healthy']}/{ro['devices']} healthy, {ro['failed']} failed, "
        f"{ro['waiting']} waiting" + (f"\n  {ro['reason']}" if ro["reason"] else "")
    )
    for st in ro["stages"]:
        mark = ">" if st["position"] == ro["current_stage"] else " "
        counts = ", ".join(f"{n} {state}" for state, n in sorted(st["counts"].items()))
        print(
            f" {mark}{st['position'] + 1}. {st['name']:<16} {st['devices']:>5} device(s): {counts}"
        )
    for d in ro.get("device_progress", []) if getattr(args, "devices", False) else []:
        print(f"     {d['device']:<24} stage {d['stage'] + 1}  {d['state']:<12} {d['reason']}")


def do_rollout_show(client: httpx.Client, args: argparse.Namespace) -> int:
    _print_rollout(_answer(client.get(f"/api/v1/rollouts/{args.id}")), args)
    return 0


def do_rollout_action(client: httpx.Client, args: argparse.Namespace) -> int:
    _print_rollout(_answer(client.post(f"/api/v1/rollouts/{args.id}/{args.rollout_action}")), args)
    return 0


def do_releases(client: httpx.Client, args: argparse.Namespace) -> int:
    rows = _answer(client.get("/api/v1/releases"))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("(none)")
    for rel in rows:
        print(
            f"{rel['id']}  {rel['version']:<16} {rel['published_at'][:19]}  "
            f"{rel['published_by']:<12} {len(rel['files'])} file(s), {rel['size']} bytes"
        )
    return 0


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--hub", help="the hub's API (default $TRYGG_HUB_URL or :8080)")
    common.add_argument("--token-file", help="a file holding your API token")
    return common


def register(sub: Subcommands) -> None:
    """Add ``trygg fleet`` and its actions to ``sub``."""
    common = _common()
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="JSON instead of text")
    fleet = sub.add_parser("fleet", help="releases and staged rollouts to the fleet")
    acts = fleet.add_subparsers(dest="fleet_action", required=True)
    p = acts.add_parser("releases", help="published releases", parents=[common, output])
    p.set_defaults(func=_call(do_releases))

    ro = acts.add_parser("rollout", help="roll a release out in stages").add_subparsers(
        dest="rollout_action", required=True
    )
    p = ro.add_parser("create", help="start a rollout", parents=[common, output])
    p.add_argument("release", help="the release id (trygg fleet releases)")
    p.add_argument(
        "--stage",
        action="append",
        required=True,
        metavar="NAME=KIND:VALUES",
        help="a stage, in order; the first is the canary. KIND: devices, sites, places or "
        "share (cumulative, e.g. share:50%%)",
    )
    p.add_argument("--failure-share", type=float, default=0.0,
                   help="share of a stage that may fail before it halts (default 0)")  # fmt: skip
    p.add_argument("--deadline-s", type=float, help="a told pole's time to report")
    p.add_argument("--device-class", help="only devices of this class")
    p.set_defaults(func=_call(do_rollout_create))
    p = ro.add_parser("list", help="rollouts, the newest first", parents=[common, output])
    p.set_defaults(func=_call(do_rollout_list))
    p = ro.add_parser("show", help="one rollout's stages", parents=[common, output])
    p.add_argument("id", type=int)
    p.add_argument("--devices", action="store_true", help="every device's progress too")
    p.set_defaults(func=_call(do_rollout_show))
    for action, text in (
        ("pause", "tell nobody new until resumed"),
        ("resume", "go on (a halted rollout halts again while its failures stand)"),
        ("abort", "stop for good; unanswered install commands are withdrawn"),
    ):
        p = ro.add_parser(action, help=text, parents=[common, output])
        p.add_argument("id", type=int)
        p.set_defaults(func=_call(do_rollout_action))
