"""deploy/systemd: each unit runs a command the installed ``trygg`` accepts, so a renamed
flag cannot leave a timer that fails every night."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest

from trygg.cli import build_parser

UNITS = Path(__file__).resolve().parents[2] / "deploy/systemd"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / name).read_text())
    return parser


@pytest.mark.parametrize("name", ["trygg-hub.service", "trygg-backup.service"])
def test_exec_start_parses(name: str) -> None:
    argv = shlex.split(_unit(name)["Service"]["ExecStart"])
    assert argv[0] == "/opt/trygg/venv/bin/trygg"
    args = build_parser().parse_args(argv[1:])
    assert callable(args.func)


def test_the_backup_timer_starts_the_backup_service() -> None:
    timer = _unit("trygg-backup.timer")
    assert timer["Timer"]["Persistent"] == "true"
    assert "OnCalendar" in timer["Timer"]
    assert (UNITS / "trygg-backup.service").is_file()
    service = _unit("trygg-backup.service")["Service"]
    # The passphrase is a systemd credential (%d is its folder), never on the command line.
    assert "--passphrase-file %d/backup-passphrase" in service["ExecStart"]
    assert service["LoadCredential"].startswith("backup-passphrase:/")


def test_the_pole_unit_runs_the_launcher_before_every_start_and_always_restarts() -> None:
    from edge import ab

    service = _unit("trygg-edge.service")["Service"]
    assert service["Restart"] == "always"
    pre = shlex.split(service["ExecStartPre"])
    start = shlex.split(service["ExecStart"])
    # the launcher is a lone file outside every release, run by the system's Python
    assert pre[:3] == start[:3] == ["/usr/bin/python3", "-S", "/opt/trygg/trygg-launch.py"]
    assert pre[3] == "prestart"
    assert start[3] == "exec"
    root = pre[pre.index("--root") + 1]
    assert start[start.index("--root") + 1] == root
    assert root.startswith(service["ReadWritePaths"])
    agent = start[start.index("--") + 1 :]
    assert agent[:1] == ["--config"]
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"  # exec keeps the pid systemd started
    assert int(pre[pre.index("--max-starts") + 1]) == ab.MAX_STARTS
