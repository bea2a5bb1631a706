"""Over-the-air releases in the agent: install what the hub asks for, prove a new release
healthy after the switch, and report every step.

``install_release`` queues a job; a background task downloads and verifies the release
(:mod:`edge.release_fetch`), installs it beside the running one (:mod:`edge.release_install`),
switches ``current`` to it on trial (:mod:`edge.ab`) and asks the agent to exit, so its
supervisor starts the new release. The new agent finds the trial and runs the health check
within ``health_deadline_s``: it commits when the check passes and goes back to the
previous release (and exits again) when it does not. A release that dies before it gets
that far is rolled back by the launcher. Reports wait in files until the link has published
them, so a report made just before a restart is sent by the next agent.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.ab import Layout, Trial
from edge.commands import CommandError
from edge.config import ReleaseConfig
from edge.release_fetch import Tls, download
from edge.release_install import install
from edge.vision.manifest import ModelRefusedError
from trygg import contract as c
from trygg import release as r
from trygg.aio import wait_event

log = logging.getLogger(__name__)

HEALTH_POLL_S: Final = 0.5


class Health(Protocol):
    def health(self) -> list[str]:
        """What the agent has not yet shown works (empty: healthy)."""
        ...


def check_release_model(release_dir: Path, path: Path, keys: list[Ed25519PublicKey]) -> None:
    """Refuse model ``path`` when the signed manifest of the release in ``release_dir``
    lists a model of that name with another SHA-256 (ModelRefusedError says which).

    A model the release does not list is left to the model manifest's own check.
    """
    manifest = r.verify(
        (release_dir / r.MANIFEST).read_bytes(), (release_dir / r.SIGNATURE).read_bytes(), keys
    )
    listed = {Path(f.path).name: f for f in manifest.by_role("model")}
    entry = listed.get(path.name)
    if entry is None:
        return
    try:
        r.check_file(path, entry)
    except r.ReleaseError as exc:
        raise ModelRefusedError(
            f"refusing model {path}: differs from release {release_dir.name[:12]}'s manifest "
            f"(SHA-256 {entry.sha256}): {exc}"
        ) from None


class Releases:
    def __init__(
        self,
        *,
        config: ReleaseConfig,
        device_id: str,
        tls: Callable[[], Tls],
        restart: Callable[[], None],
        python: str = sys.executable,
    ) -> None:
        self.config = config
        self.layout = Layout(config.root)
        self.device_id = device_id
        self._tls = tls
        self._restart = restart
        self._python = python
        self.running = self.layout.link("current")
        self.running_dir = self.layout.release_dir(self.running) if self.running else None
        trial = self.layout.trial()
        self.trial: Trial | None = (
            trial if trial is not None and trial.release == self.running else None
        )
        self._jobs: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue(maxsize=1)
        self._busy = False
        self.wake = asyncio.Event()  # a report waits to be published

    # ---- commands ------------------------------------------------------------------
    def request(self, cmd: c.Command) -> str:
        """Queue the ``install_release`` in ``cmd``; CommandError when it can't start now."""
        release = cmd.args.get("release")
        if not isinstance(release, str) or not r.is_release_id(release):
            raise CommandError("args.release must be a release id (64 hex digits)")
        if self.trial is not None:
            raise CommandError("a release is on trial; ask again once it is proven")
        if self._busy or self._jobs.full():
            raise CommandError("an install is already under way")
        if release == self.running:
            self.report(release, cmd.id, "healthy", "already running")
            return f"release {release[:12]} is already running"
        self._jobs.put_nowait((release, cmd.id))
        return f"install of release {release[:12]} started"

    # ---- reports -------------------------------------------------------------------
    def report(self, release: str, command: str | None, state: str, reason: str = "") -> None:
        log.info("%s: release %s %s %s", self.device_id, release[:12], state, reason)
        self.layout.queue_report(release, command, state, reason)
        self.wake.set()

    def pending(self) -> list[tuple[Path, bytes]]:
        """Queued reports as ``(key, payload)``; ``sent(key)`` once the broker has one."""
        out = []
        for path, body in self.layout.pending_reports():
            try:
                payload = c.encode(
                    c.ReleaseReport.model_validate({**body, "device": self.device_id})
                )
            except ValueError:
                log.warning("%s: dropping malformed release report %s", self.device_id, path)
                path.unlink(missing_ok=True)
                continue
            out.append((path, payload))
        return out

    @staticmethod
    def sent(key: Path) -> None:
        key.unlink(missing_ok=True)

    # ---- the background task -------------------------------------------------------
    async def run(self, stop: asyncio.Event, health: Health) -> None:
        """Check a release on trial, then install what is asked for, until ``stop``."""
        if self.trial is not None:
            await self._check(stop, health, self.trial)
        while not stop.is_set():
            getter = asyncio.ensure_future(self._jobs.get())
            stopping = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({getter, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                stopping.cancel()
                return
            stopping.cancel()
            release, command = getter.result()
            self._busy = True
            try:
                await self._install(release, command)
            finally:
                self._busy = False

    async def _install(self, release: str, command: str | None) -> None:
        staging = self.layout.staging / release
        self.report(release, command, "downloading")
        try:
            await asyncio.to_thread(self.layout.ensure)
            keys = await asyncio.to_thread(r.load_public_keys, self.config.public_keys)
            got = await asyncio.to_thread(
                download,
                base_url=self.config.url,
                release_id=release,
                dest=staging,
                public_keys=keys,
                tls=self._tls(),
                timeout_s=self.config.download_timeout_s,
            )
            self.report(release, command, "verified")
            await asyncio.to_thread(install, got, self.layout, python=self._python)
            self.report(release, command, "installed")
            await asyncio.to_thread(self.layout.switch, release, command=command)
        except (r.ReleaseError, OSError, ValueError) as exc:
            self.report(release, command, "failed", str(exc))
            return
        finally:
            await asyncio.to_thread(shutil.rmtree, staging, True)
        self.report(release, command, "switched", f"from {self.running or 'no release'}")
        self._restart()

    async def _check(self, stop: asyncio.Event, health: Health, trial: Trial) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.health_deadline_s
        missing = health.health()
        while missing and loop.time() < deadline and not stop.is_set():
            await wait_event(stop, HEALTH_POLL_S)
            missing = health.health()
        if stop.is_set() and missing:
            return  # stopped from outside: the next start goes on with the trial
        if not missing:
            await asyncio.to_thread(self.layout.commit)
            self.trial = None
            self.report(trial.release, trial.command, "healthy", f"start {trial.starts}")
            return
        reason = f"health check failed after {self.config.health_deadline_s:g}s: " + "; ".join(
            missing
        )
        log.warning("%s: %s, rolling back", self.device_id, reason)
        await asyncio.to_thread(self.layout.rollback, reason[:300])
        self.wake.set()
        self._restart()
