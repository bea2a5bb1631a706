"""``trygg dashboards generate|check|push`` (registered by trygg.cli)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from trygg.cli import Subcommands


def cmd_generate(args: argparse.Namespace) -> int:
    from dashboards.generate import ROOT, stale, write

    root = Path(args.root) if args.root else ROOT
    if args.check:
        problems = stale(root)
        for p in problems:
            print(f"stale: {p}", file=sys.stderr)
        if problems:
            print("run `trygg dashboards generate` and commit the result", file=sys.stderr)
        return 1 if problems else 0
    for path in write(root):
        print(path)
    return 0


def _secret(value: str | None, file: str | None, env: str, what: str) -> str:
    if file:
        return Path(file).read_text().strip()
    if value:
        return value
    from_env = os.environ.get(env, "")
    if not from_env:
        raise SystemExit(f"trygg dashboards push: {what} needed (--{what}, --{what}-file or {env})")
    return from_env


def cmd_push(args: argparse.Namespace) -> int:
    from dashboards import provisioning
    from dashboards.catalogue import dashboards
    from dashboards.grafana import Grafana, GrafanaError, push

    token = _secret(args.token, args.token_file, "GRAFANA_TOKEN", "token")
    if args.influx_user:
        influx = {
            "user": args.influx_user,
            "password": _secret(
                None, args.influx_password_file, "INFLUX_GRAFANA_PASSWORD", "influx-password"
            ),
        }
    else:
        influx = {
            "token": _secret(
                args.influx_token, args.influx_token_file, "INFLUX_READ_TOKEN", "influx-token"
            )
        }
    try:
        with Grafana(url=args.grafana_url, token=token) as grafana:
            result = push(
                grafana,
                datasource=provisioning.datasource(
                    url=args.influx_url, database=args.influx_db, **influx
                ),
                dashboards=[d.to_json() for d in dashboards()],
                folder_uid=provisioning.FOLDER_UID,
                folder_title=provisioning.FOLDER_TITLE,
                message=args.message,
            )
    except GrafanaError as exc:
        print(f"trygg dashboards push: {exc}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "datasource": result.datasource,
                "folder": result.folder,
                "dashboards": result.dashboards,
            }
        )
    )
    return 0


def register(sub: Subcommands) -> None:
    """Add ``trygg dashboards ...``; each subcommand sets ``func=<callable(args) -> int>``."""
    p = sub.add_parser("dashboards", help="Grafana dashboards: generate JSON, push to Grafana")
    dsub = p.add_subparsers(dest="dashboards_command", required=True)

    g = dsub.add_parser("generate", help="write dashboards/generated/*.json and provisioning")
    g.add_argument("--check", action="store_true", help="exit 1 if committed files are stale")
    g.add_argument("--root", help="dashboards folder (default: the package's own)")
    g.set_defaults(func=cmd_generate)

    u = dsub.add_parser("push", help="upload data source, folder and dashboards via HTTP API")
    u.add_argument("--grafana-url", required=True, help="e.g. https://grafana.example")
    u.add_argument("--token", help="service account token (or --token-file, GRAFANA_TOKEN)")
    u.add_argument("--token-file")
    u.add_argument(
        "--influx-url", default="http://influxdb:8086", help="InfluxDB URL as Grafana sees it"
    )
    u.add_argument("--influx-db", default="trygg", help="v1 database (DBRP-mapped on 2.x)")
    u.add_argument("--influx-token", help="read token (or --influx-token-file, INFLUX_READ_TOKEN)")
    u.add_argument("--influx-token-file")
    u.add_argument("--influx-user", help="an InfluxDB (v1) user instead of a token")
    u.add_argument(
        "--influx-password-file", help="that user's password (or INFLUX_GRAFANA_PASSWORD)"
    )
    u.add_argument("--message", default="trygg dashboards push")
    u.set_defaults(func=cmd_push)
