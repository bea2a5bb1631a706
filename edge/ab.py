"""A/B release folders on a pole, and the launcher run before every start. Stdlib only.

This file is also installed on its own, outside every release (``/opt/trygg/ab.py``), as the
systemd unit's ``ExecStartPre`` and ``ExecStart`` (docs/releases.md): a release that crashes
before it can check itself is still rolled back, by code it did not bring. Layout::

    <root>/releases/<id>/   complete installed releases (a folder appears there by rename only)
    <root>/current  -> releases/<id>     what the next start runs
    <root>/previous -> releases/<id>     what a failed trial goes back to
    <root>/trial.json       a switched release not yet proven healthy
    <root>/reports/         release reports waiting to be sent
    <root>/staging/         downloads and half-built releases, thrown away before every start

Every change is a write to a temporary name, fsync, ``os.replace`` and an fsync of the
folder, in an order where power loss at any point leaves ``current`` on a release that is
complete (see the state machine in docs/releases.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

MAX_STARTS: Final = 3
_ID: Final = re.compile(r"^[0-9a-f]{64}$")


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """fsync every file and folder under ``folder`` (before it is renamed into place)."""
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(dirpath) / name
            if not path.is_symlink():
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        fsync_dir(Path(dirpath))


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: a reader sees the old or the new bytes, never a mix."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    fsync_dir(path.parent)


@dataclass(frozen=True, slots=True)
class Trial:
    """A release switched to and not yet proven: how often it was started, and where to go
    back to."""

    release: str
    previous: str | None
    starts: int = 0
    command: str | None = None


class Layout:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.releases = root / "releases"
        self.staging = root / "staging"
        self.reports = root / "reports"
        self.trial_file = root / "trial.json"

    def ensure(self) -> None:
        for folder in (self.releases, self.staging, self.reports):
            folder.mkdir(parents=True, exist_ok=True)

    def release_dir(self, release: str) -> Path:
        if not _ID.fullmatch(release):
            raise ValueError(f"not a release id: {release!r}")
        return self.releases / release

    def installed(self, release: str | None) -> bool:
        return (
            release is not None
            and bool(_ID.fullmatch(release))
            and (self.releases / release).is_dir()
        )

    def link(self, name: str) -> str | None:
        """The release id ``current`` or ``previous`` points at, if it is installed."""
        try:
            target = (self.root / name).readlink()
        except OSError:
            return None
        release = target.name
        return release if _ID.fullmatch(release) and self.installed(release) else None

    def point(self, name: str, release: str) -> None:
        """Point ``name`` at an installed release, atomically (new link, rename over)."""
        if not self.installed(release):
            raise ValueError(f"release {release} is not installed")
        tmp = self.root / f".{name}.tmp"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(Path("releases") / release)
        tmp.replace(self.root / name)
        fsync_dir(self.root)

    # ---- the trial -----------------------------------------------------------------
    def trial(self) -> Trial | None:
        try:
            data = json.loads(self.trial_file.read_bytes())
            return Trial(
                release=str(data["release"]),
                previous=data.get("previous"),
                starts=int(data.get("starts", 0)),
                command=data.get("command"),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            # written atomically, so only a damaged disk gets here: fall back to ``previous``
            return Trial(release="", previous=self.link("previous"), starts=MAX_STARTS + 1)

    def _write_trial(self, trial: Trial) -> None:
        write_atomic(self.trial_file, json.dumps(asdict(trial)).encode())

    def switch(self, release: str, *, command: str | None) -> Trial:
        """Make ``release`` current on trial; the running one becomes ``previous``.

        The trial file is written first, so a power cut after it is finished by
        :meth:`prestart`, and one before it leaves everything as it was.
        """
        if not self.installed(release):
            raise ValueError(f"release {release} is not installed")
        running = self.link("current")
        trial = Trial(release=release, previous=running, starts=0, command=command)
        self._write_trial(trial)
        if running is not None:
            self.point("previous", running)
        self.point("current", release)
        return trial

    def commit(self) -> Trial | None:
        """The trial passed: keep ``current``, forget the trial, remove old releases."""
        trial = self.trial()
        if trial is None:
            return None
        self.trial_file.unlink()
        fsync_dir(self.root)
        self.collect()
        return trial

    def rollback(self, reason: str) -> Trial | None:
        """Go back to the release before the trial and queue a ``rolled_back`` report."""
        trial = self.trial()
        if trial is None:
            return None
        back = trial.previous if self.installed(trial.previous) else self.link("previous")
        if back is not None:
            self.point("current", back)
        else:
            # no release to go back to (the pole ran a hand-installed agent): drop ``current``
            # so the launcher starts that agent again
            (self.root / "current").unlink(missing_ok=True)
            fsync_dir(self.root)
        if trial.release:
            self.queue_report(trial.release, trial.command, "rolled_back", reason)
        self.trial_file.unlink()
        fsync_dir(self.root)
        return trial

    # ---- reports waiting to be sent ------------------------------------------------
    def queue_report(self, release: str, command: str | None, state: str, reason: str) -> Path:
        self.reports.mkdir(parents=True, exist_ok=True)
        ms = int(time.time() * 1000)
        body: dict[str, object] = {
            "release": release,
            "command": command,
            "state": state,
            "reason": reason[:300],
        }
        body |= {"ts": ms}
        path = self.reports / f"{ms:015d}-{os.getpid()}-{time.monotonic_ns()}.json"
        write_atomic(path, json.dumps(body).encode())
        return path

    def pending_reports(self) -> list[tuple[Path, dict[str, object]]]:
        out = []
        for path in sorted(self.reports.glob("*.json")):
            try:
                out.append((path, json.loads(path.read_bytes())))
            except (OSError, ValueError):
                path.unlink(missing_ok=True)  # a report that can't be read can't be sent
        return out

    # ---- housekeeping --------------------------------------------------------------
    def collect(self) -> None:
        """Remove releases that are neither current, previous nor on trial."""
        keep = {self.link("current"), self.link("previous")}
        trial = self.trial()
        if trial is not None:
            keep |= {trial.release, trial.previous}
        if not self.releases.is_dir():
            return
        for folder in self.releases.iterdir():
            if folder.name not in keep:
                self._discard(folder)

    def _discard(self, folder: Path) -> None:
        # renamed out first: a half-deleted release is never mistaken for a complete one
        self.staging.mkdir(parents=True, exist_ok=True)
        gone = self.staging / f"gone-{folder.name}-{time.monotonic_ns()}"
        folder.replace(gone)
        fsync_dir(folder.parent)
        shutil.rmtree(gone, ignore_errors=True)

    def prestart(self, *, max_starts: int = MAX_STARTS) -> str:
        """Run before every start of the agent: finish or undo an interrupted switch, count
        a trial's starts and roll back after ``max_starts``. Returns what it did."""
        self.ensure()
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(exist_ok=True)
        trial = self.trial()
        if trial is not None:
            if not self.installed(trial.release):
                self.rollback("the release on trial is not installed")
                return "rolled back: release on trial missing"
            if trial.starts >= max_starts:
                self.rollback(
                    f"the release did not pass its health check in {trial.starts} start(s) "
                    "(crashed or hung)"
                )
                return f"rolled back after {trial.starts} start(s)"
            if self.link("current") != trial.release:
                # power went between writing the trial and switching: finish the switch
                if trial.previous is not None and self.installed(trial.previous):
                    self.point("previous", trial.previous)
                self.point("current", trial.release)
            self._write_trial(Trial(trial.release, trial.previous, trial.starts + 1, trial.command))
            return f"trial start {trial.starts + 1} of {trial.release}"
        if self.link("current") is None and (self.root / "current").is_symlink():
            back = self.link("previous")
            if back is not None:
                self.point("current", back)
                return f"current was broken; back to {back}"
        return "no trial"


def exec_agent(root: Path, python: str, args: list[str]) -> None:
    """Replace this process by the agent of ``current`` (its ``lib`` first on the path), or
    by the installed agent when no release is current."""
    env = dict(os.environ)
    current = Layout(root).link("current")
    if current is not None:
        lib = str((root / "releases" / current / "lib").resolve())
        env["PYTHONPATH"] = os.pathsep.join(p for p in (lib, env.get("PYTHONPATH")) if p)
    # -P: the working folder must not come before the release on the module path
    os.execve(python, [python, "-P", "-m", "edge", *args], env)  # noqa: S606  no shell involved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trygg-launch", description=__doc__)
    parser.add_argument("action", choices=["prestart", "exec"])
    parser.add_argument("--root", required=True, help="the A/B root (release.root)")
    parser.add_argument("--max-starts", type=int, default=MAX_STARTS)
    parser.add_argument("--python", default=sys.executable, help="interpreter for the agent")
    parser.epilog = "exec: the agent's own arguments follow --"
    argv = sys.argv[1:] if argv is None else argv
    agent_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    root = Path(args.root)
    if args.action == "prestart":
        sys.stderr.write(f"trygg-launch: {Layout(root).prestart(max_starts=args.max_starts)}\n")
        return 0
    exec_agent(root, args.python, agent_args)
    return 1  # not reached: exec replaced the process


if __name__ == "__main__":
    raise SystemExit(main())
