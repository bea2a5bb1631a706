"""Onboarding a city from an empty state through the command line only, live.

``trygg admin init``, crews from a GeoJSON file, ``trygg provision device`` for a pole and
for a stranger, both started as real ``trygg edge`` processes on a TLS broker; the running
hub shows both as unregistered devices, ``trygg admin devices register`` makes the pole
known without a restart, its first reading is stored and its first fault (a full bin)
becomes a ticket assigned to the crew whose area holds it; ``trygg admin devices block``
silences the stranger, whose messages are then counted and no longer dead-lettered.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from edge.provision import Provisioner
from hub.app import Hub
from hub.db import DeadLetter
from tests.admin.test_crew_geojson import collection, feature
from tests.edge.secure import SecureStack, fleet_files
from tests.helpers import running, wait_for
from tests.needs import unavailable
from trygg.clock import SystemClock
from trygg.stack import BrokerAuth, LocalStack, StackError, StackPorts, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TRYGG = str(Path(sys.executable).with_name("trygg"))
ROOT = Path(__file__).resolve().parents[2]


def _box(lat0: float, lat1: float) -> list[list[float]]:
    return [[17.95, lat0], [18.05, lat0], [18.05, lat1], [17.95, lat1], [17.95, lat0]]


def bin_assets(device: str, *, lat: float) -> str:
    """One bin that is nearly full from the start; judged full at once (``fullMinS: 0``)."""
    return (
        f"assets:\n  - id: {device}-bin0\n    kind: bin\n    lat: {lat}\n    lon: 18.0\n"
        "    properties: {fullMinS: 0}\n    sensors:\n"
        "      - {type: sim_ultrasonic, id: level, interval_s: 0.2, window: 1, "
        "start_fill: 0.95, fill_per_hour: 0}\n"
    )


def trygg(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TRYGG, *argv], capture_output=True, text=True, timeout=120, check=False, input=stdin
    )


def ok(*argv: str) -> str:
    done = trygg(*argv)
    assert done.returncode == 0, (argv, done.stdout, done.stderr)
    return done.stdout


@contextmanager
def broker_for(config_dir: Path, secrets: Path, tmp: Path) -> Iterator[SecureStack]:
    """The TLS broker for what ``trygg provision`` wrote (the harness's own part)."""
    prov = Provisioner(config_dir=config_dir, secrets_dir=secrets)
    files = prov.broker()
    tls_port = free_port()
    stack = LocalStack(
        state_dir=tmp / "stack",
        ports=StackPorts(mqtt=free_port(), influx=free_port(), influx_rpc=free_port()),
        auth=BrokerAuth(
            password_file=files.passwd, acl_file=files.acl, cafile=files.cafile,
            certfile=files.certfile, keyfile=files.keyfile, crlfile=files.crlfile,
            tls_port=tls_port,
        ),
    )  # fmt: skip
    try:
        stack.up()
    except StackError as exc:
        unavailable(f"secure stack could not start: {exc}")
    try:
        yield SecureStack(stack, prov, files, tls_port, config_dir)
    finally:
        stack.down()


def spawn(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [TRYGG, "edge", "--config", str(config)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip


async def test_a_city_is_onboarded_through_the_cli_without_a_hub_restart(
    tmp_path: Path, unique: str
) -> None:
    pole, stranger = f"pole-n{unique[:6]}", f"pole-s{unique[:6]}"
    config_dir, secrets = tmp_path / "firmware-config", tmp_path / "pki"
    fleet_files(
        config_dir, {pole: bin_assets(pole, lat=59.385), stranger: bin_assets(stranger, lat=59.36)}
    )
    for device in (pole, stranger):
        ok(
            "provision",
            "device",
            device,
            "--secrets",
            str(secrets),
            "--config-dir",
            str(config_dir),
        )
    with broker_for(config_dir, secrets, tmp_path) as sec:
        settings = sec.hub(tmp_path, unique, registry_poll_s=0.3)
        db = ["--database-url", settings.database_url, "--actor", "it-person"]
        # An empty installation: the first admin, then the crews from the GIS file.
        out = ok("admin", "init", *db)
        token = next(line.split()[1] for line in out.splitlines() if line.startswith("token:"))
        crews = tmp_path / "crews.geojson"
        crews.write_text(
            collection(
                feature({"id": "crew-south", "area": "south", "rank": 1}, {"type": "Polygon", "coordinates": [_box(59.30, 59.37)]}),
                feature({"id": "crew-north", "area": "north", "rank": 1}, {"type": "Polygon", "coordinates": [_box(59.37, 59.40)]}),
            )
        )  # fmt: skip
        assert "2 created" in ok("admin", "crews", "import", str(crews), *db)

        hub = Hub.build(settings, SystemClock())
        api = f"http://127.0.0.1:{settings.api_port}/api/v1"
        logs = tmp_path / "edge.log"
        procs: list[subprocess.Popen[bytes]] = []
        try:
            async with (
                running(hub.run),
                httpx.AsyncClient(
                    base_url=api, headers={"Authorization": f"Bearer {token}"}
                ) as client,
            ):
                await asyncio.wait_for(hub.ingest.connected.wait(), timeout=30)
                procs += [
                    spawn(sec.write_device_file(d, tmp_path, state_dir=tmp_path / d), logs)
                    for d in (pole, stranger)
                ]

                async def unregistered() -> dict[str, Any]:
                    r = await client.get("/devices/unregistered")
                    assert r.status_code == 200, r.text
                    return {row["id"]: row for row in r.json()}

                async def both_knocked() -> bool:
                    rows = await unregistered()
                    return all(
                        rows.get(d, {}).get("claims", {}).get("site") for d in (pole, stranger)
                    )

                await wait_for(both_knocked, within=60)
                rows = await unregistered()
                assert rows[pole]["claims"]["assets"][0]["id"] == f"{pole}-bin0"
                assert rows[pole]["count"] >= 1
                listed = json.loads(ok("admin", "devices", "unregistered", "--json", *db))
                assert {pole, stranger} <= {row["id"] for row in listed}

                # The pole is registered while the hub runs: no restart.
                ok("admin", "devices", "register", pole, "--site", "solna-norr", *db)

                async def stored() -> bool:
                    n = await hub.influx.count(
                        f'SELECT count("fillingLevel") FROM "raw"."bin" WHERE device=\'{pole}\''
                    )
                    return n >= 1

                await wait_for(stored, within=60)

                async def ticket() -> list[dict[str, Any]]:
                    r = await client.get("/tickets")
                    assert r.status_code == 200, r.text
                    return [t for t in r.json() if t["asset_id"] == f"{pole}-bin0"]

                async def ticketed() -> bool:
                    return bool(await ticket())

                await wait_for(ticketed, within=60)
                (first,) = await ticket()
                assert first["kind"] == "binFull"
                assert (first["assignee"], first["area"]) == ("crew-north", "north")
                assert pole not in await unregistered()

                # The stranger is blocked: counted from now on, no more dead letters.
                ok("admin", "devices", "block", stranger, *db)

                def dead_letters() -> int:
                    with hub.sessions() as s:
                        q = (
                            select(func.count())
                            .select_from(DeadLetter)
                            .where(DeadLetter.topic.contains(stranger))
                        )
                        return int(s.scalar(q) or 0)

                async def applied() -> bool:
                    return stranger in hub.ingest.classifier.blocked

                await wait_for(applied, within=10)
                await asyncio.sleep(1.0)  # what was in flight before the block is committed
                letters, count = (
                    await asyncio.to_thread(dead_letters),
                    (await unregistered())[stranger]["count"],
                )

                async def counted() -> bool:
                    return bool((await unregistered())[stranger]["count"] > count)

                await wait_for(counted, within=30)
                assert await asyncio.to_thread(dead_letters) == letters
                assert hub.ingest.counters.blocked >= 1
                trail = json.loads(ok("admin", "audit", "--json", *db))
                assert [e["action"] for e in trail] == [
                    "device.block", "device.register", "crew.import", "crew.import", "admin.init",
                ]  # fmt: skip
                assert {e["actor"] for e in trail} == {"it-person"}
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    await asyncio.to_thread(proc.wait, 20)
                except subprocess.TimeoutExpired:
                    proc.kill()
            hub.sessions.kw["bind"].dispose()
