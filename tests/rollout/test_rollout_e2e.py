"""End to end against the real broker and the real hub process (API, rollout worker,
command sender, release listener over TLS with client certificates): a good release
reaches every pole of a small fleet through three stages; a bad one (crashes at start,
cannot connect, a file whose hash is wrong) is rolled back on every canary and halts the
rollout before anybody else is told.

The poles are simulated (:mod:`tests.rollout.sim_pole`): they speak the real MQTT contract
and download and verify over the real listener, but do not install anything.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub import auth
from hub.releases.config import ReleaseConfig
from tests.helpers import build_hub, hub_settings, running, wait_for
from tests.rollout.conftest import build, make_keys, tar_of
from tests.rollout.sim_pole import Fault, SimPole
from trygg import release as r
from trygg.clock import SystemClock
from trygg.mqtt import MqttSettings
from trygg.pki import Pki
from trygg.stack import LocalStack, free_port

pytestmark = pytest.mark.integration
SITES = {"c1": "centrum", "c2": "centrum", "n1": "norr", "n2": "norr", "s1": "syd", "s2": "syd"}


@dataclass
class City:
    hub: Any
    poles: dict[str, SimPole]
    api: str
    admin: str
    config: ReleaseConfig
    keys: Any
    tmp: Path

    def h(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin}"}


def _city(stack: LocalStack, tmp: Path, unique: str) -> City:
    clock = SystemClock()
    now = clock.now()
    fleet = Pki(tmp / "fleet-ca")
    fleet.ensure_ca(now=now)
    hub_key, hub_crt = fleet.issue(
        tmp / "hub-tls", "localhost", now=now, server=True, sans=("DNS:localhost",)
    )
    keys = make_keys(tmp / "release-keys")
    config = ReleaseConfig(
        dir=tmp / "releases",
        keys=(keys.public_file,),
        port=free_port(),
        host="127.0.0.1",
        cert_file=hub_crt,
        key_file=hub_key,
        ca_file=fleet.ca_crt,
        rollout_tick_s=0.2,
        rollout_deadline_s=60,
    )
    settings = hub_settings(stack, tmp, unique, release=config)
    devices = {f"{name}-{unique}": site for name, site in SITES.items()}
    hub = build_hub(settings, clock, list(devices.items()))
    admin = auth.bootstrap_token(hub.sessions, name="ada", role="admin", now=now)
    poles = {}
    for device in devices:
        key, crt = fleet.issue(tmp / device, device, now=now)
        tls = ssl.create_default_context(cafile=str(fleet.ca_crt))
        tls.load_cert_chain(str(crt), str(key))
        poles[device] = SimPole(
            device=device,
            mqtt=MqttSettings(host="127.0.0.1", port=stack.ports.mqtt, client_id=device),
            base_url=f"https://localhost:{config.port}/releases",
            tls=tls,
            keys=[keys.private.public_key()],
        )
    api = f"http://127.0.0.1:{settings.api_port}"
    return City(hub, poles, api, admin, config, keys, tmp)


async def _publish(city: City, http: httpx.AsyncClient, version: str) -> r.Bundle:
    bundle = build(city.tmp / version, city.keys.private, version=version, payload=version.encode())
    resp = await http.post(
        "/api/v1/releases",
        content=tar_of(bundle.folder),
        headers={**city.h(), "Content-Type": "application/gzip"},
    )
    assert resp.status_code == 201, resp.text
    return bundle


async def _rollout(city: City, http: httpx.AsyncClient, release: str, canaries: list[str]) -> int:
    u = next(iter(city.poles)).split("-", 1)[1]
    body = {
        "release": release,
        "stages": [
            {"name": "kanarie", "devices": [f"{d}-{u}" for d in canaries]},
            {"name": "norr", "sites": ["norr"]},
            {"name": "alla", "share": 1.0},
        ],
    }
    resp = await http.post("/api/v1/rollouts", json=body, headers=city.h())
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


async def _status(city: City, http: httpx.AsyncClient, rid: int) -> Any:
    resp = await http.get(f"/api/v1/rollouts/{rid}", headers=city.h())
    assert resp.status_code == 200
    return resp.json()


async def _until(city: City, http: httpx.AsyncClient, rid: int, status: str) -> Any:
    found: dict[str, Any] = {}

    async def reached() -> bool:
        found.update(await _status(city, http, rid))
        return bool(found["status"] == status)

    await wait_for(reached, within=60, interval=0.2)
    return found


async def _api_up(http: httpx.AsyncClient, city: City) -> None:
    async def up() -> bool:
        try:
            return (await http.get("/api/v1/releases", headers=city.h())).status_code == 200
        except httpx.TransportError:
            return False

    await wait_for(up, within=30)


async def test_a_good_release_reaches_the_whole_fleet_in_three_stages(
    stack: LocalStack, tmp_path: Path, unique: str
) -> None:
    city = _city(stack, tmp_path, unique)
    async with (
        running(city.hub.run, *(p.run for p in city.poles.values())),
        httpx.AsyncClient(base_url=city.api, timeout=30) as http,
    ):
        await _api_up(http, city)
        bundle = await _publish(city, http, "2026.12.1")
        rid = await _rollout(city, http, bundle.id, ["c1"])
        done = await _until(city, http, rid, "done")
    assert [s["counts"] for s in done["stages"]] == [
        {"healthy": 1}, {"healthy": 2}, {"healthy": 3},
    ]  # fmt: skip
    assert (done["healthy"], done["failed"], done["devices"]) == (6, 0, 6)
    stamps = [(s["started_at"], s["finished_at"]) for s in done["stages"]]
    assert all(a is not None and b is not None for a, b in stamps)
    assert stamps[0][1] <= stamps[1][0]  # one stage after another
    assert stamps[1][1] <= stamps[2][0]
    for pole in city.poles.values():
        assert pole.told == [bundle.id]
        assert pole.running == bundle.id


@pytest.mark.parametrize("fault", ["crash", "no_connect", "bad_hash"])
async def test_a_bad_release_is_rolled_back_on_every_canary_and_halts(
    stack: LocalStack, tmp_path: Path, unique: str, fault: Fault | str
) -> None:
    city = _city(stack, tmp_path, unique)
    canaries = ["c1", "s1"]
    async with (
        running(city.hub.run, *(p.run for p in city.poles.values())),
        httpx.AsyncClient(base_url=city.api, timeout=30) as http,
    ):
        await _api_up(http, city)
        bundle = await _publish(city, http, "2026.12.2-bad")
        if fault == "bad_hash":
            # the stored copy goes bad after publishing: the poles' own check catches it
            model = next(e for e in bundle.manifest.files if e.role == "model")
            stored = city.config.dir / "files" / model.sha256
            data = stored.read_bytes()
            stored.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # one bit pattern off
        else:
            for pole in city.poles.values():
                pole.faults[bundle.id] = fault  # type: ignore[assignment]
        rid = await _rollout(city, http, bundle.id, canaries)
        halted = await _until(city, http, rid, "halted")
        await asyncio.sleep(1.0)  # several more ticks: nobody else may be told
        after = await _status(city, http, rid)
    assert after["status"] == "halted"
    assert "stage kanarie: 2 device(s) failed" in after["reason"]
    expected = "failed" if fault == "bad_hash" else "rolled_back"
    assert halted["stages"][0]["counts"] == {expected: 2}
    assert after["stages"][1]["counts"] == {"pending": 2}
    assert after["stages"][2]["counts"] == {"pending": 2}
    reasons = {d["reason"] for d in after["device_progress"] if d["stage"] == 0}
    assert all(reasons), reasons
    if fault == "bad_hash":
        assert all("SHA-256 differs" in why for why in reasons), reasons
    for device, pole in city.poles.items():
        is_canary = device.split("-", 1)[0] in canaries
        assert pole.told == ([bundle.id] if is_canary else []), device
        assert pole.running is None
