"""A simulated pole for the rollout tests: it takes ``install_release`` from its command
topic over the real broker, answers the command, downloads the release from the hub's
release listener with its fleet certificate, verifies it with the city's key, and reports
its progress as a real agent does; ``fault`` makes it fail the way a bad release would."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass, field
from typing import Literal

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from trygg import contract as c
from trygg import release as r
from trygg.mqtt import Connection, MqttSession, MqttSettings

Fault = Literal["none", "crash", "no_connect"]
# What a real agent reports when the new release crashes or cannot reach the broker.
ROLLED_BACK = {
    "crash": "the new agent exited at start (3 times); back on the previous release",
    "no_connect": "no broker connection within the health deadline; back on the previous",
}


@dataclass
class SimPole:
    device: str
    mqtt: MqttSettings
    base_url: str
    tls: ssl.SSLContext
    keys: list[Ed25519PublicKey]
    faults: dict[str, Fault] = field(default_factory=dict)  # release id -> how it fails
    told: list[str] = field(default_factory=list)  # release ids it was told to install
    running: str | None = None

    async def run(self, stop: asyncio.Event) -> None:
        async with Connection(self.mqtt) as conn:
            await conn.subscribe(c.topic_for(self.device, c.Kind.CMD))
            receiving = asyncio.ensure_future(self._receive(conn))
            await stop.wait()
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiving

    async def _receive(self, conn: MqttSession) -> None:
        while True:
            for msg in await conn.messages():
                cmd = c.decode(c.Kind.CMD, msg.payload)
                if cmd.name != "install_release":
                    continue
                release = str(cmd.args["release"])
                result = c.CommandResult(
                    device=self.device, id=cmd.id, ok=True, message="installing", ts=_ms()
                )
                await conn.publish(c.topic_for(self.device, c.Kind.CMD_RESULT), c.encode(result))
                if release in self.told:
                    continue  # a re-sent command: the install is idempotent
                self.told.append(release)
                await self._install(conn, release, cmd.id)

    async def _report(
        self, conn: MqttSession, release: str, cmd: str, state: str, why: str = ""
    ) -> None:
        report = c.ReleaseReport.model_validate(
            {"device": self.device, "release": release, "command": cmd, "state": state,
             "reason": why, "ts": _ms()}
        )  # fmt: skip
        await conn.publish(c.topic_for(self.device, c.Kind.RELEASE), c.encode(report))

    async def _install(self, conn: MqttSession, release: str, cmd: str) -> None:
        await self._report(conn, release, cmd, "downloading")
        base = f"{self.base_url}/{release}"
        try:
            async with httpx.AsyncClient(verify=self.tls, timeout=10) as http:
                manifest = (await http.get(f"{base}/manifest.json")).raise_for_status().content
                sig = (await http.get(f"{base}/manifest.sig")).raise_for_status().content
                checked = r.verify(manifest, sig, self.keys)
                if r.release_id(manifest) != release:
                    raise r.ReleaseError("the manifest is not the release asked for")
                for entry in checked.files:
                    got = await http.get(f"{base}/files/{entry.sha256}")
                    check = r.FileCheck(entry)
                    check.update(got.raise_for_status().content)
                    check.finish()
        except (httpx.HTTPError, r.ReleaseError) as exc:
            await self._report(conn, release, cmd, "failed", f"refused: {exc}"[:300])
            return
        for state in ("verified", "installed", "switched"):
            await self._report(conn, release, cmd, state)
        fault = self.faults.get(release, "none")
        if fault == "none":
            self.running = release
            await self._report(conn, release, cmd, "healthy")
        else:
            await self._report(conn, release, cmd, "rolled_back", ROLLED_BACK[fault])


def _ms() -> int:
    return int(time.time() * 1000)
