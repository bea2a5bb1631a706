"""Kill the hub (SIGKILL) in the middle of a fault scenario and restart it: the tickets end
the same as in an uninterrupted run (no duplicates, no misses, same statuses)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.db import Ticket, open_database
from hub.devices import register
from tests.helpers import hub_settings
from tests.rules.mqtt_pub import DevicePublisher
from tests.rules.scenario import Pole
from trygg import contract as c
from trygg.stack import LocalStack

pytestmark = pytest.mark.integration

NIGHT = datetime(2026, 12, 15, 17, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
FAST = {  # per-asset thresholds from the birth, so the scenario takes seconds
    "lampOutMinS": 1.5,
    "lampOutOffS": 1,
    "resolveHoldS": 2.5,
    "fullMinS": 1.5,
    "fullOffS": 1,
}


class HubProcess:
    def __init__(self, settings_json: str, offset_s: float, tmp: Path) -> None:
        self.args = [sys.executable, "-m", "tests.rules.hub_proc", settings_json, str(offset_s)]
        self.tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        ready = self.tmp / f"ready-{self.starts}"
        log = self.tmp / f"hub-{self.starts}.log"
        with log.open("wb") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [*self.args, str(ready)], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"hub did not start, see {log.name}")
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@contextlib.contextmanager
def hub_process(settings_json: str, offset_s: float, tmp: Path) -> Iterator[HubProcess]:
    hub = HubProcess(settings_json, offset_s, tmp)
    try:
        hub.start()
        yield hub
    finally:
        hub.stop()


def run_scenario(
    stack: LocalStack, tmp: Path, tag: str, *, kill: bool
) -> list[tuple[str, str | None, str, int]]:
    """The scenario against a hub process; with ``kill`` the hub is SIGKILLed and restarted
    in the middle of the fault phase. Returns the final tickets."""
    tmp.mkdir()
    offset = (NIGHT - datetime.now(UTC)).total_seconds()

    def now() -> datetime:
        return datetime.now(UTC) + timedelta(seconds=offset)

    settings = hub_settings(stack, tmp, tag, tick_s=0.2)
    register_sessions = open_database(settings.database_url)
    pole = Pole(f"pole-{tag}", heartbeat_s=3600)
    register(register_sessions, [(pole.device, "solna-centrum")])
    pole.properties = {
        a: dict(FAST) for a in [pole.lamp(i) for i in range(4)] + [pole.bin, pole.camera]
    }
    raw = settings.model_dump(mode="json")
    pub = DevicePublisher(port=stack.ports.mqtt, client_id=f"dev-{tag}")
    cam = (pole.camera, c.AssetKind.CAMERA, "cameraCovered")

    def phase(
        seconds: float,
        lamps: list[bool],
        level: float,
        at: float | None = None,
        then: object = None,
    ) -> None:
        end = time.monotonic() + seconds
        fired = False
        while time.monotonic() < end:
            pub.send(pole.lamps_data(now(), lamps))
            pub.send(pole.bin_data(now(), level=level))
            if at is not None and not fired and time.monotonic() > end - seconds + at:
                fired = True
                then()  # type: ignore[operator]
            time.sleep(0.25)

    try:
        with hub_process(json.dumps(raw), offset, tmp) as hub:
            pub.send(pole.birth(now()))
            pub.send(pole.state(now(), online=True))
            pub.send(pole.event(now(), *cam, active=True))

            def restart() -> None:
                hub.kill()
                hub.start()

            # faults: lamp 0 out, bin full, camera covered (the kill lands in here)
            phase(6, [False, True, True, True], 0.93, at=3.0 if kill else None, then=restart)
            pub.send(pole.event(now(), *cam, active=False))
            phase(6, [True] * 4, 0.05)  # cleared, held 2.5 s, resolved
            phase(4, [False, True, True, True], 0.05)  # lamp 0 again: reopened
            time.sleep(1.0)
    finally:
        pub.close()
    with register_sessions() as s:
        rows = s.scalars(select(Ticket).order_by(Ticket.kind)).all()
        out = [
            (t.kind, t.asset_id.replace(tag, "X") if t.asset_id else None, t.status, t.reopen_count)
            for t in rows
        ]
    register_sessions.kw["bind"].dispose()
    return out


@pytest.mark.slow
async def test_sigkill_mid_scenario_ends_with_the_same_tickets(
    stack: LocalStack, tmp_path: Path, unique: str
) -> None:
    assert os.name == "posix"
    baseline = await asyncio.to_thread(
        run_scenario, stack, tmp_path / "a", f"{unique}a", kill=False
    )
    killed = await asyncio.to_thread(run_scenario, stack, tmp_path / "b", f"{unique}b", kill=True)
    assert baseline == [
        ("binFull", "pole-X-bin", "resolved", 0),
        ("cameraCovered", "pole-X-cam", "resolved", 0),
        ("lampOut", "pole-X-lamp0", "reopened", 1),
    ]
    assert killed == baseline
