"""The agent against a real broker: commands, events, health, offline, refused publishes,
and the process entry point (config errors, systemd notifications)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from edge.agent import Agent
from edge.config import DeviceConfig, load_device_config
from edge.drivers.base import Driver, SimFaults
from edge.drivers.registry import build_drivers
from tests.edge.secure import lamp_assets, secure_stack
from tests.helpers import running, wait_for
from trygg import contract as c
from trygg.clock import FakeClock, ScaledClock, to_ms
from trygg.mqtt import Connection, Incoming, MqttSettings
from trygg.stack import LocalStack

pytestmark = pytest.mark.integration
NIGHT = datetime(2026, 12, 15, 21, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]

POLE = """\
id: {device}
site: solna-centrum
heartbeat_s: 60
state_dir: {state}
broker: {{port: {port}, reconnect_min_s: 0.2, reconnect_max_s: 1.0}}
outbox: {{flush_s: 0.2, ack_timeout_s: 3.0, synchronous: NORMAL}}
assets:
  - id: {device}-lamp
    kind: streetlight
    lat: 59.36
    lon: 18.0
    sensors:
      - {{type: sim_relay, id: relay, interval_s: 1}}
      - {{type: sim_ina219, id: power, interval_s: 1}}
  - id: {device}-bin
    kind: bin
    lat: 59.36
    lon: 18.0
    sensors:
      - {{type: sim_ds18b20, id: temp, interval_s: 0.5, fire_c: 60}}
      - {{type: sim_tilt, id: tilt, interval_s: 0.5}}
  - id: {device}
    kind: device
    lat: 59.36
    lon: 18.0
    sensors:
      - {{type: sim_pi_health, id: health, interval_s: 1}}
"""


def _write(tmp: Path, device: str, port: int) -> Path:
    path = tmp / f"{device}.yaml"
    path.write_text(POLE.format(device=device, state=tmp / "state", port=port))
    return path


class HubSide:
    """The hub's end of the contract, for tests: records messages, acks data, sends commands."""

    def __init__(self, conn: Connection, device: str) -> None:
        self.conn, self.device = conn, device
        self.got: list[Incoming] = []
        self.acking = True

    async def pump(self) -> None:
        while True:
            for m in await self.conn.messages():
                self.got.append(m)
                _, kind = c.parse_topic(m.topic)
                if kind in (c.Kind.DATA, c.Kind.EVENT) and self.acking:
                    seq = json.loads(m.payload)["seq"]
                    ack = c.Ack(device=self.device, seq=seq, ts=to_ms(NIGHT))
                    await self.conn.publish(c.topic_for(self.device, c.Kind.ACK), c.encode(ack))

    def of(self, kind: c.Kind) -> list[dict[str, object]]:
        return [json.loads(m.payload) for m in self.got if m.topic.endswith("/" + kind.value)]

    def events(self) -> list[dict[str, object]]:
        return [e for msg in self.of(c.Kind.EVENT) for e in msg["events"]]  # type: ignore[attr-defined]

    async def command(self, name: str, cid: str, **args: object) -> dict[str, object]:
        raw = json.dumps({"v": 1, "id": cid, "name": name, "args": args, "ts": to_ms(NIGHT)})
        return await self.raw_command(raw.encode(), cid)

    async def raw_command(self, payload: bytes, cid: str) -> dict[str, object]:
        await self.conn.publish(c.topic_for(self.device, c.Kind.CMD), payload)

        async def answered() -> bool:
            return any(r["id"] == cid for r in self.of(c.Kind.CMD_RESULT))

        await wait_for(answered, within=10, interval=0.05)
        return next(r for r in self.of(c.Kind.CMD_RESULT) if r["id"] == cid)


async def _hub_side(stack: LocalStack, device: str) -> tuple[Connection, HubSide]:
    conn = Connection(
        MqttSettings(host="127.0.0.1", port=stack.ports.mqtt, client_id=f"h-{device}")
    )
    await conn.__aenter__()
    await conn.subscribe(f"trygg/v1/dev/{device}/+")
    await conn.publish(
        c.HUB_STATE_TOPIC, c.HubState(online=True, ts=to_ms(NIGHT)).model_dump_json().encode()
    )
    return conn, HubSide(conn, device)


async def test_commands_events_and_health(stack: LocalStack, tmp_path: Path, unique: str) -> None:
    device = f"pole-c{unique[:6]}"
    path = _write(tmp_path, device, stack.ports.mqtt)
    config = load_device_config(path)
    faults = SimFaults()
    clock = ScaledClock(NIGHT, speed=1.0)

    def factory(cfg: DeviceConfig) -> list[Driver]:
        return build_drivers(cfg.assets, faults)

    agent = Agent(
        config=config,
        clock=clock,
        drivers=factory(config),
        state_dir=tmp_path / "state",
        faults=faults,
        config_path=path,
        driver_factory=factory,
    )
    conn, hub = await _hub_side(stack, device)
    task = asyncio.create_task(hub.pump())
    try:
        async with running(agent.run):
            await wait_for(lambda: _has(hub, c.Kind.DATA), within=15)
            # health carries the agent's outbox figures
            fields = {r["field"] for d in hub.of(c.Kind.DATA) for r in d["readings"]}  # type: ignore[attr-defined]
            assert {"cpuTemperature", "clockSynced", "outboxDepth", "droppedReadings"} <= fields

            res = await hub.command("set_interval", "c1", seconds=5, sensor="power")
            assert res["ok"] is True
            assert next(d for d in agent.drivers if d.sensor == "power").interval_s == 5
            res = await hub.command("set_interval", "c2", seconds=0.0001)
            assert res["ok"] is False
            assert "0.1..86400" in str(res["message"])

            births = len(hub.of(c.Kind.BIRTH))
            assert (await hub.command("rebirth", "c3"))["ok"] is True
            await wait_for(lambda: _count(hub, c.Kind.BIRTH, births + 1), within=5)

            res = await hub.command("lamp_test", "c4", asset=f"{device}-lamp", seconds=2)
            assert res["ok"] is True
            assert "powerState=on" in str(res["message"])
            assert (await hub.command("lamp_test", "c5", asset="nope"))["ok"] is False

            assert (await hub.command("ack_tamper", "c6"))["ok"] is False  # not this device's
            bad = await hub.raw_command(b'{"v":1,"id":"c7","name":"explode","ts":1}', "invalid")
            assert bad["ok"] is False
            assert "schema" in str(bad["message"])

            # reload: a broken file is refused and changes nothing; a good one applies
            path.write_text(path.read_text().replace("interval_s: 0.5}", "interval_s: -3}"))
            res = await hub.command("reload_config", "c8")
            assert res["ok"] is False
            assert "interval_s" in str(res["message"])
            path.write_text(
                POLE.format(device=device, state=tmp_path / "state", port=stack.ports.mqtt).replace(
                    "fire_c: 60", "fire_c: 30"
                )
            )
            assert (await hub.command("reload_config", "c9"))["ok"] is True

            # safety events go out at once, latched: a fire (at the reloaded 30 degC limit,
            # so the reload took effect) with its jump, and a dropped bin
            faults.set(f"{device}-bin", "fire", active=True)
            faults.set(f"{device}-bin", "dropped", active=True)
            await wait_for(lambda: _event(hub, "temperatureJump"), within=10)
            await wait_for(lambda: _event(hub, "fire"), within=10)
            await wait_for(lambda: _event(hub, "tilt"), within=10)
            faults.set(f"{device}-bin", "sensor_dead", active=True)
            await wait_for(lambda: _event(hub, "sensorFault"), within=10)
            assert agent.stats.driver_errors > 0
            fire = [e for e in hub.events() if e["type"] == "fire"]
            assert len(fire) == 1
            assert fire[0]["severity"] == "critical"
    finally:
        task.cancel()
        await conn.__aexit__(None, None, None)


async def _has(hub: HubSide, kind: c.Kind) -> bool:
    return bool(hub.of(kind))


async def _count(hub: HubSide, kind: c.Kind, n: int) -> bool:
    return len(hub.of(kind)) >= n


async def _event(hub: HubSide, what: str) -> bool:
    return any(e["type"] == what and e["active"] for e in hub.events())


def _agent(
    tmp_path: Path,
    device: str,
    stack: LocalStack,
    *,
    broker: dict[str, object] | None = None,
    outbox: dict[str, object] | None = None,
) -> tuple[Agent, SimFaults]:
    """An agent on the test pole's config, with broker/outbox settings overridden."""
    config = load_device_config(_write(tmp_path, device, stack.ports.mqtt))
    config = config.model_copy(
        update={
            "broker": config.broker.model_copy(update=broker or {}),
            "outbox": config.outbox.model_copy(update=outbox or {}),
        }
    )
    faults = SimFaults()
    agent = Agent(
        config=config,
        clock=ScaledClock(NIGHT, speed=1.0),
        drivers=build_drivers(config.assets, faults),
        state_dir=tmp_path / "state",
        faults=faults,
    )
    return agent, faults


async def test_offline_fault_drops_the_link_and_the_broker_publishes_the_death(
    stack: LocalStack, tmp_path: Path, unique: str
) -> None:
    device = f"pole-o{unique[:6]}"
    agent, faults = _agent(tmp_path, device, stack, broker={"keepalive_s": 5})
    conn, hub = await _hub_side(stack, device)
    task = asyncio.create_task(hub.pump())
    try:
        async with running(agent.run):
            await wait_for(lambda: _has(hub, c.Kind.DATA), within=15)
            faults.set(device, "offline", active=True)

            async def dead() -> bool:
                return any(s["online"] is False for s in hub.of(c.Kind.STATE))

            await wait_for(dead, within=15)  # the will, after 1.5 x keep-alive
            death = next(s for s in hub.of(c.Kind.STATE) if s["online"] is False)
            assert death["boot"] == agent.boot
            assert not agent.link.connected
            faults.set(device, "offline", active=False)
            await wait_for(lambda: _online(agent), within=15)
    finally:
        task.cancel()
        await conn.__aexit__(None, None, None)


async def _online(agent: Agent) -> bool:
    return agent.link.connected


async def test_a_rebirth_request_re_sends_what_the_hub_has_not_acknowledged(
    stack: LocalStack, tmp_path: Path, unique: str
) -> None:
    """The hub asks for a rebirth when it sees a sequence gap: the device re-sends from the
    acknowledged point at once, not after its (here one minute) acknowledgement timeout."""
    device = f"pole-b{unique[:6]}"
    agent, _ = _agent(tmp_path, device, stack, outbox={"ack_timeout_s": 60.0})
    conn, hub = await _hub_side(stack, device)
    hub.acking = False  # messages "lost" on their way to the hub: nothing acknowledged
    task = asyncio.create_task(hub.pump())

    def seqs() -> list[int]:
        return [int(str(d["seq"])) for d in hub.of(c.Kind.DATA)]

    try:
        async with running(agent.run):
            await wait_for(lambda: _count(hub, c.Kind.DATA, 2), within=15)
            first = min(seqs())
            assert seqs().count(first) == 1
            assert (await hub.command("rebirth", "r1"))["ok"] is True

            async def re_sent() -> bool:
                return seqs().count(first) >= 2

            await wait_for(re_sent, within=10)
    finally:
        task.cancel()
        await conn.__aexit__(None, None, None)


async def test_refused_publish_keeps_the_message_and_raises_an_event(
    tmp_path: Path, unique: str
) -> None:
    """A device using another device's certificate: the ACL refuses, visibly (MQTT v5)."""
    real, imposter = f"pole-r{unique[:5]}", f"pole-i{unique[:5]}"
    devices = {
        real: lamp_assets(real, lamps=1, interval_s=0.5),
        imposter: lamp_assets(imposter, lamps=1),
    }
    with secure_stack(tmp_path, devices) as sec:
        config = sec.device_config(real, state_dir=tmp_path / "state")
        keys = sec.prov.secrets / "devices" / imposter
        config = config.model_copy(
            update={
                "broker": config.broker.model_copy(
                    update={
                        "cert_file": keys / f"{imposter}.crt",
                        "key_file": keys / f"{imposter}.key",
                    }
                )
            }
        )
        agent = Agent(
            config=config,
            clock=FakeClock(NIGHT),
            drivers=build_drivers(config.assets),
            state_dir=tmp_path / "state",
        )
        async with running(agent.run):
            await wait_for(lambda: _refused(agent), within=15)
            await asyncio.sleep(0.5)
        box = agent.outbox
        del box
        from edge.outbox import Outbox

        reopened = Outbox(tmp_path / "state" / "outbox.sqlite", capacity=10**6)
        try:
            held = reopened.pending(after=0, limit=1000)
        finally:
            reopened.close()
        assert any(p.kind == "event" and b"publishRefused" in p.payload for p in held)
        assert agent.stats.acked == 0  # nothing was deleted: the hub never had it


async def _refused(agent: Agent) -> bool:
    return agent.stats.refused > 0


def test_broken_config_refuses_to_start_with_file_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "device.yaml"
    path.write_text("id: pole-1\nsite: s\nbroker: {port: 99999}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "edge", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert f"{path}:3: key 'broker.port'" in proc.stderr


def _start(path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge", "--config", str(path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_process_notifies_systemd_ready_and_watchdog(
    stack: LocalStack, tmp_path: Path, unique: str
) -> None:
    device = f"pole-n{unique[:6]}"
    path = _write(tmp_path, device, stack.ports.mqtt)
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(15)
    env = {"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "400000", "PATH": "/usr/bin:/bin"}
    proc = _start(path, env)
    try:
        got: list[str] = []
        while got.count("WATCHDOG=1") < 3:
            got.append((await asyncio.to_thread(sock.recv, 256)).decode())
        assert got[0] == "READY=1"
        proc.terminate()
        assert await asyncio.to_thread(proc.wait, 20) == 0
        tail = []
        sock.settimeout(2)
        while "STOPPING=1" not in tail:
            tail.append((await asyncio.to_thread(sock.recv, 256)).decode())
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert yaml.safe_load(path.read_text())["id"] == device


async def test_a_stop_while_the_broker_is_unreachable_ends_the_agent_at_once(
    tmp_path: Path, unique: str
) -> None:
    """systemd stops (or restarts, as after a release that cannot connect) a pole that is
    still trying to reach the broker: it must not wait out the connect window first."""
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    config = load_device_config(_write(tmp_path, f"cut-{unique}", port))
    agent = Agent(config=config, clock=FakeClock(NIGHT), drivers=build_drivers(config.assets))
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    await asyncio.sleep(1.0)  # inside its first connect window
    assert not task.done()
    stop.set()
    # Not a timing figure: the connect window it must not wait out is 15 s.
    async with asyncio.timeout(5):
        await task
