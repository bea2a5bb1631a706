"""Backup, destroy, restore while a fleet streams: real hub process, real edge agents, real
InfluxDB 1.x and SQLite or PostgreSQL, and the real ``trygg backup``/``trygg restore``.

The backup is taken mid-stream, then the hub is killed and its SQL database, InfluxDB
database and spool are destroyed while the devices go on producing. After the restore:
nothing is missing below a restored watermark; the hub resumes, and every reading the devices
still held is stored exactly once (the hub's own counter sees a double, InfluxDB cannot);
what the old hub acknowledged after the backup is reported as lost, seq for seq.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from hub.db import Counter, Device, open_database
from tests.hub_ingest.chaos import FIELD, SITE, T0, Round
from trygg.stack import LocalStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PASSPHRASE = "correct horse battery staple"


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trygg.cli", *args],
        env={**os.environ, **env, "TRYGG_BACKUP_PASSPHRASE": PASSPHRASE},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def sql_state(url: str) -> tuple[dict[str, tuple[int, int]], int]:
    """Each device's (watermark, lost) and the hub's readings counter."""
    sessions = open_database(url, migrate=False)
    with sessions() as s:
        devices = {d.id: (d.watermark, d.lost) for d in s.scalars(select(Device))}
        readings = s.scalar(select(Counter.value).where(Counter.name == "readings")) or 0
    sessions.kw["bind"].dispose()
    return devices, readings


async def influx_seqs(stack: LocalStack, db: str) -> dict[str, dict[int, int]]:
    """Per device, how many readings InfluxDB holds for each seq (seq from the time)."""
    q = f'SELECT "{FIELD}", "device" FROM "raw"."device" WHERE site=\'{SITE}\''
    async with httpx.AsyncClient(base_url=stack.influx_url, timeout=30) as client:
        resp = await client.get("/query", params={"db": db, "q": q, "epoch": "ms"})
    out: dict[str, dict[int, int]] = {}
    for series in resp.json()["results"][0].get("series", []):
        for t, _v, device in series["values"]:
            per = out.setdefault(device, {})
            seq = (t - T0) // 10
            per[seq] = per.get(seq, 0) + 1
    return out


def destroy_sql(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
        return
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


async def test_backup_destroy_restore_while_streaming(
    stack: LocalStack, tmp_path: Path, sql_url: str, unique: str
) -> None:
    rnd = Round(stack, tmp_path, f"bk{unique}", db_url=sql_url, messages=80, devices=4)
    env = {**rnd.hub.env, "CI": os.environ.get("CI", "")}
    rpc = f"127.0.0.1:{stack.ports.influx_rpc}"
    backups = tmp_path / "backups"
    rnd.hub.start()
    await rnd.hub.connected()
    rnd.agents = [rnd._agent(d) for d in rnd.device_ids]
    stop = asyncio.Event()
    try:
        async with asyncio.TaskGroup() as tg:
            for agent in rnd.agents:
                tg.create_task(agent.run(stop))
            tg.create_task(rnd._produce(stop, 6.0 / rnd.messages))
            await asyncio.sleep(2.0)

            made = await asyncio.to_thread(
                cli, "backup", "--to", str(backups), "--influx-rpc", rpc, env=env
            )
            assert made.returncode == 0, made.stderr
            (folder,) = list(backups.iterdir())

            # The disaster: the hub dies and every store of the server is gone.
            rnd.hub.kill()
            await asyncio.sleep(0.5)  # acknowledgements already on their way land
            acked = {
                a.config.id: (await asyncio.to_thread(a.outbox.stats)).low - 1 for a in rnd.agents
            }
            destroy_sql(sql_url)
            async with httpx.AsyncClient(base_url=stack.influx_url) as client:
                await client.post("/query", data={"q": f'DROP DATABASE "{rnd.influx_db}"'})
            shutil.rmtree(tmp_path / f"spool-{rnd.name}", ignore_errors=True)

            restored = await asyncio.to_thread(
                cli, "restore", "--from", str(folder), "--influx-rpc", rpc, env=env
            )
            assert restored.returncode == 0, restored.stderr
            marks, readings_before = sql_state(sql_url)
            held = await influx_seqs(stack, rnd.influx_db)
            for device, (watermark, _lost) in marks.items():
                assert watermark > 0, (device, "the backup was taken mid-stream")
                assert watermark <= acked[device]
                # No gap below a restored watermark: the order SQL-then-InfluxDB holds.
                below = {s: n for s, n in held.get(device, {}).items() if s <= watermark}
                assert below == dict.fromkeys(range(1, watermark + 1), rnd.readings), device

            again = await asyncio.to_thread(
                cli, "restore", "--from", str(folder), "--influx-rpc", rpc, env=env
            )
            assert again.returncode == 1
            assert "refused, nothing changed" in again.stderr
            assert f"InfluxDB database '{rnd.influx_db}' holds data" in again.stderr
            assert await influx_seqs(stack, rnd.influx_db) == held

            rnd.hub.start()
            await rnd.hub.connected()
            await rnd._drained(within=90.0)
            await rnd.hub.settled()
            stop.set()
    finally:
        stop.set()
        rnd.hub.stop()
    assert "Traceback" not in rnd.hub.tail(), rnd.hub.tail()

    marks_after, readings_after = sql_state(sql_url)
    final = await influx_seqs(stack, rnd.influx_db)
    resent = 0
    for device, (watermark, _lost) in marks.items():
        seqs = final[device]
        assert all(n == rnd.readings for n in seqs.values()), (device, seqs)
        missing = set(range(1, rnd.messages + 1)) - seqs.keys()
        # Only what the old hub acknowledged after the backup can be missing ...
        assert missing <= set(range(watermark + 1, acked[device] + 1)), (device, missing)
        # ... and the restored hub reports that whole span as given up.
        assert marks_after[device][1] == acked[device] - watermark, (device, marks_after)
        assert marks_after[device][0] == rnd.messages
        resent += (rnd.messages - acked[device]) * rnd.readings
    # Exactly once: the restored hub accepted each reading the devices still held once.
    assert readings_after - readings_before == resent
