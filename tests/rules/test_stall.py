"""A hub that could not hear is not a fleet that went silent: the hub in its own process is
stopped (SIGSTOP), starved of CPU, or kept from storing what it receives (its database
locked, so a backlog builds up while its ticks run on) for longer than the offline
threshold, while a device keeps publishing through the real broker and another device
really goes silent in the same period. The talking device gets no offline state and no
alarm; the silent one is declared offline and gets its ticket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.db import Alarm, Device, open_database
from hub.devices import register
from tests.helpers import hub_settings
from tests.rules.mqtt_pub import DevicePublisher
from tests.rules.scenario import Pole
from tests.rules.test_restart import HubProcess, hub_process
from trygg.clock import SystemClock
from trygg.stack import LocalStack

pytestmark = pytest.mark.integration

HEARTBEAT_S = 1.5  # the offline rule: 2 x heartbeat = 3 s; device state: class "pole" 3 s
THRESHOLD_S = 3.0
STALL_S = 3 * THRESHOLD_S
AFTER_S = 2.5 * THRESHOLD_S  # the silent device's silence after the stall, and then some


def _alarmed(url: str) -> dict[str, int]:
    sessions = open_database(url)
    try:
        with sessions() as s:
            out: dict[str, int] = {}
            for a in s.scalars(select(Alarm).where(Alarm.type == "deviceOffline")):
                out[a.asset_id] = out.get(a.asset_id, 0) + 1
            return out
    finally:
        sessions.kw["bind"].dispose()


def _online(url: str, devices: list[str]) -> dict[str, tuple[bool, str]]:
    sessions = open_database(url)
    try:
        with sessions() as s:
            return {
                d.id: (d.online, d.state_reason)
                for d in s.scalars(select(Device).where(Device.id.in_(devices)))
            }
    finally:
        sessions.kw["bind"].dispose()


@contextlib.contextmanager
def _cpu_hogs(pid: int, n: int = 4) -> Iterator[None]:
    """``n`` busy processes on one CPU, with the hub moved there at the lowest priority."""
    cpu = min(os.sched_getaffinity(0))
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdout=subprocess.DEVNULL)
        for _ in range(n)
    ]
    try:
        for h in hogs:
            os.sched_setaffinity(h.pid, {cpu})
        for task in Path(f"/proc/{pid}/task").iterdir():  # every thread of the hub
            os.sched_setaffinity(int(task.name), {cpu})
            os.setpriority(os.PRIO_PROCESS, int(task.name), 19)
        yield
    finally:
        for h in hogs:
            h.kill()
            h.wait(timeout=10)
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(task.name), os.sched_getaffinity(0))


def run(
    stack: LocalStack,
    tmp: Path,
    tag: str,
    stall: Callable[[HubProcess, str], AbstractContextManager[None]],
    *,
    stall_s: float = STALL_S,
    stops: bool = True,
) -> None:
    """Both devices talk; then ``stall`` the hub for ``stall_s`` while only one talks
    (``stops``: the hub does not run meanwhile, and must say it measured that)."""
    settings = hub_settings(
        stack,
        tmp,
        tag,
        tick_s=0.2,
        offline_grace_s=0.0,  # no grace, and the offline rule raises at once: no slack
        heartbeat_timeouts=f"pole={THRESHOLD_S}",
    )
    url = settings.database_url
    talker, quiet = (Pole(f"pole-{tag}-{n}", lamps=0, heartbeat_s=HEARTBEAT_S) for n in "tq")
    sessions = open_database(url)
    register(sessions, [(talker.device, "solna-centrum"), (quiet.device, "solna-centrum")])
    sessions.kw["bind"].dispose()
    raw = settings.model_dump(mode="json")
    clock = SystemClock()
    pub = DevicePublisher(port=stack.ports.mqtt, client_id=f"dev-{tag}")

    def publish(seconds: float, poles: list[Pole]) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for p in poles:
                pub.send(p.bin_data(clock.now(), level=0.3))
            time.sleep(0.25)

    try:
        with hub_process(json.dumps(raw), 0.0, tmp) as hub:
            for p in (talker, quiet):
                pub.send(p.birth(clock.now()))
            publish(2.0, [talker, quiet])
            states = _online(url, [talker.device, quiet.device])
            assert states == {talker.device: (True, "birth"), quiet.device: (True, "birth")}
            with stall(hub, url):  # the quiet device goes silent as the hub stops hearing
                publish(stall_s, [talker])
            publish(AFTER_S, [talker])
            states = _online(url, [talker.device, quiet.device])
            alarms = _alarmed(url)
            log = (tmp / f"hub-{hub.starts}.log").read_text()
    finally:
        pub.close()
    assert f"{talker.device}: offline" not in log  # never even flapped
    assert states[talker.device] == (True, "birth")
    assert talker.device not in alarms, log
    # Honest silence is still noticed, after the stall, in both deciders.
    assert states[quiet.device] == (False, "heartbeat")
    assert alarms.get(quiet.device) == 1
    assert ("not counted as silence" in log) is stops  # the hub measured its own stall


@contextlib.contextmanager
def _stopped(hub: HubProcess, _url: str) -> Iterator[None]:
    assert hub.proc is not None
    hub.proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        hub.proc.send_signal(signal.SIGCONT)


@contextlib.contextmanager
def _locked(_hub: HubProcess, url: str) -> Iterator[None]:
    """The hub's database write-locked: ingest receives and writes InfluxDB but cannot
    commit (its backlog grows) while its event loop and ticks run on."""
    db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        yield
        db.execute("ROLLBACK")
    finally:
        db.close()


@contextlib.contextmanager
def _starved(hub: HubProcess, _url: str) -> Iterator[None]:
    assert hub.proc is not None
    with _cpu_hogs(hub.proc.pid):
        yield


@pytest.mark.slow
async def test_a_stopped_hub_raises_no_false_offline(
    stack: LocalStack, tmp_path: Path, unique: str
) -> None:
    await asyncio.to_thread(run, stack, tmp_path, unique, _stopped)


@pytest.mark.slow
async def test_a_cpu_starved_hub_raises_no_false_offline(
    stack: LocalStack, tmp_path: Path, unique: str
) -> None:
    await asyncio.to_thread(run, stack, tmp_path, unique, _starved)


@pytest.mark.slow
async def test_a_hub_behind_a_backlog_raises_no_false_offline(
    stack: LocalStack, tmp_path: Path, unique: str
) -> None:
    # Shorter than the hub's SQLite busy timeout (10 s), longer than twice the threshold.
    await asyncio.to_thread(
        run, stack, tmp_path, unique, _locked, stall_s=2.3 * THRESHOLD_S, stops=False
    )
