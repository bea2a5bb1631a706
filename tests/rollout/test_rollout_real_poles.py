"""Staged rollouts on real poles: ``trygg edge`` processes under a supervisor that plays
systemd (the lone launcher before every start), the real Mosquitto with TLS and client
certificates, and a real ``trygg hub`` process: its release store and upload API, its
release listener over mutual TLS with the fleet CA, its rollout worker and command sender,
and its ingest, whose acknowledgements are the ones the poles' health checks wait for.

A good release reaches every pole through three stages (a canary, a site, the rest) and
each pole ends healthy on it. A bad release (one that crashes at start, one that cannot
connect, one whose file or whose signature in the hub's store was damaged after it was
published) is undone on every canary, halts the rollout, and no pole outside the canary
stage is told anything. A release signed with a key the hub does not trust never gets that
far: the hub refuses it at upload. A damaged release published again is whole again and
reaches every pole.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from edge.provision import HUB_USER
from hub import auth
from hub.db import Device, DeviceCommand, open_database
from hub.devices import register
from tests.edge.secure import lamp_assets, secure_stack
from tests.hub_ingest.chaos import HubProcess
from tests.ota_edge.pole import (
    Pole,
    Releases,
    Supervisor,
    crashing_wheel,
    device_tls,
    installed_root,
    lone_launcher,
    pole_device_file,
    trygg_wheel,
    wait_for,
)
from tests.rollout.conftest import tar_of
from trygg import release as r
from trygg.clock import SystemClock
from trygg.stack import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SITES = {"rr-c1": "centrum", "rr-c2": "centrum", "rr-n1": "norr", "rr-n2": "norr",
         "rr-s1": "syd"}  # fmt: skip
HEALTH_DEADLINE_S = 8.0
# A told pole that never reports a final state counts as failed after this long, well
# inside the test's own waits, so a silent pole fails the test with the hub's reason.
ROLLOUT_DEADLINE_S = 90.0
INSTALL = "install_release"


@dataclass
class City(Releases):
    hub: HubProcess
    http: httpx.Client
    sessions: sessionmaker[Session]
    admin: str
    store: Path  # the hub's release folder
    base: str = ""  # the release every pole starts on
    poles: dict[str, Pole] = field(default_factory=dict)

    def h(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin}"}

    def upload(self, bundle: Path) -> httpx.Response:
        headers = {**self.h(), "Content-Type": "application/gzip"}
        return self.http.post("/api/v1/releases", content=tar_of(bundle), headers=headers)

    def publish(self, bundle: Path) -> str:
        resp = self.upload(bundle)
        assert resp.status_code == 201, resp.text
        rid = r.release_id((bundle / r.MANIFEST).read_bytes())
        assert resp.json()["id"] == rid
        return rid

    def rollout(self, release: str, stages: list[dict[str, Any]]) -> int:
        resp = self.http.post(
            "/api/v1/rollouts", json={"release": release, "stages": stages}, headers=self.h()
        )
        assert resp.status_code == 201, resp.text
        return int(resp.json()["id"])

    def status(self, rollout: int) -> dict[str, Any]:
        resp = self.http.get(f"/api/v1/rollouts/{rollout}", headers=self.h())
        assert resp.status_code == 200, resp.text
        found: dict[str, Any] = resp.json()
        return found

    def until(
        self, rollout: int, what: str, check: Callable[[dict[str, Any]], bool], timeout: float
    ) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def reached() -> bool:
            seen.update(self.status(rollout))
            return check(seen)

        try:
            wait_for(f"rollout {rollout}: {what}", reached, timeout=timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen: {seen}\n{self.hub.tail()}") from None
        return seen

    def device(self, device: str) -> Device:
        with self.sessions() as s:
            row = s.get(Device, device)
            assert row is not None, device
            return row

    def install_commands(self, device: str) -> list[DeviceCommand]:
        """Every ``install_release`` the hub has queued for ``device``."""
        with self.sessions() as s:
            return list(
                s.scalars(
                    select(DeviceCommand).where(
                        DeviceCommand.device_id == device, DeviceCommand.name == INSTALL
                    )
                )
            )

    def runs_on(self, pole: Pole, release: str) -> None:
        """``pole`` runs ``release`` with nothing on trial, and the hub goes on storing (and
        so acknowledging) its readings."""

        def settled() -> bool:
            return (
                pole.layout.trial() is None
                and pole.layout.link("current") == release
                and self.device(pole.device).release == release
            )

        wait_for(f"{pole.device} on {release[:12]}", settled, timeout=90)
        before = self.device(pole.device)
        mark = (before.boot, before.watermark)
        wait_for(
            f"{pole.device}: readings stored after {mark}",
            lambda: ((d := self.device(pole.device)).boot, d.watermark) > mark,
            timeout=30,
        )
        assert pole.layout.link("current") == release
        assert pole.supervisor.proc is not None
        assert pole.supervisor.proc.poll() is None


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    tmp = tmp_path_factory.mktemp("rollout-real")
    with secure_stack(tmp, {d: lamp_assets(d, lamps=1, interval_s=0.2) for d in SITES}) as s:
        db_url = f"sqlite:///{tmp}/hub.sqlite"
        sessions = open_database(db_url)
        register(sessions, list(SITES.items()))
        admin = auth.bootstrap_token(sessions, name="ada", role="admin", now=SystemClock().now())
        key = r.generate_key()
        _priv, pub = r.save_keypair(tmp / "keys", key)
        release_port = free_port()
        env = {
            "TRYGG_MQTT_PORT": str(s.stack.ports.mqtt),
            "TRYGG_MQTT_USERNAME": HUB_USER,
            "TRYGG_MQTT_PASSWORD": s.prov.hub_password(),
            "TRYGG_INFLUX_URL": s.stack.influx_url,
            "TRYGG_INFLUX_DB": "rollout_real",
            "TRYGG_DATABASE_URL": db_url,
            "TRYGG_API_PORT": str(free_port()),
            "TRYGG_CLIENT_ID": "rollout-real-hub",
            "TRYGG_SHARE_GROUP": "rollout-real",
            "TRYGG_SPOOL_DIR": str(tmp / "spool"),
            "TRYGG_BATCH_MAX_DELAY_S": "0.05",
            "TRYGG_RELEASE_DIR": str(tmp / "releases"),
            "TRYGG_RELEASE_KEYS": str(pub),
            "TRYGG_RELEASE_HOST": "127.0.0.1",
            "TRYGG_RELEASE_PORT": str(release_port),
            # the broker's certificate (for localhost) serves releases too
            "TRYGG_RELEASE_CERT_FILE": str(s.files.certfile),
            "TRYGG_RELEASE_KEY_FILE": str(s.files.keyfile),
            "TRYGG_RELEASE_CA_FILE": str(s.files.cafile),
            "TRYGG_RELEASE_ROLLOUT_TICK_S": "0.2",
            "TRYGG_RELEASE_ROLLOUT_DEADLINE_S": str(ROLLOUT_DEADLINE_S),
        }
        hub = HubProcess(env, int(env["TRYGG_API_PORT"]), tmp / "hub.log")
        hub.start()
        http = httpx.Client(base_url=f"http://127.0.0.1:{hub.api_port}", timeout=30)
        wheel = trygg_wheel(tmp / "wheels")
        city = City(tmp, s, key, pub, wheel, hub, http, sessions, admin, tmp / "releases")
        try:
            asyncio.run(hub.connected())
            city.base = city.publish(city.bundle("base"))
            url = f"https://localhost:{release_port}/releases"
            first = next(iter(SITES))
            template = installed_root(
                tmp / "template",
                base_url=url,
                release=city.base,
                pub=pub,
                tls=device_tls(s, first),
            )
            launcher = lone_launcher(tmp / "opt")
            for device, site in SITES.items():
                home = tmp / "poles" / device
                root = home / "ab"
                shutil.copytree(template, root, symlinks=True)
                device_file = pole_device_file(
                    s,
                    device,
                    home,
                    release_url=url,
                    pub=pub,
                    root=root,
                    health_deadline_s=HEALTH_DEADLINE_S,
                    site=site,
                )
                log = home / "agent.log"
                sup = Supervisor(launcher=launcher, root=root, device_file=device_file, log=log)
                city.poles[device] = Pole(device, root, sup, log)
            for pole in city.poles.values():
                city.runs_on(pole, city.base)
            yield city
        finally:
            for pole in city.poles.values():
                pole.supervisor.stop()
            hub.stop()
            http.close()
            sessions.kw["bind"].dispose()


def _current(pole: Pole) -> str:
    release = pole.layout.link("current")
    assert release is not None, pole.device
    return release


def _three_stages(canaries: list[str]) -> list[dict[str, Any]]:
    return [
        {"name": "kanarie", "devices": canaries},
        {"name": "norr", "sites": ["norr"]},
        {"name": "alla", "share": 1.0},
    ]


def test_a_release_signed_with_an_unknown_key_is_refused_at_upload(city: City) -> None:
    forged = city.bundle("forged", key=r.generate_key())
    rid = r.release_id((forged / r.MANIFEST).read_bytes())
    resp = city.upload(forged)
    assert resp.status_code == 400, resp.text
    assert "signature does not match" in resp.json()["detail"]
    assert city.http.get(f"/api/v1/releases/{rid}", headers=city.h()).status_code == 404
    assert not (city.store / rid).exists()
    resp = city.http.post(
        "/api/v1/rollouts",
        json={"release": rid, "stages": _three_stages(["rr-c1"])},
        headers=city.h(),
    )
    assert resp.status_code == 404, resp.text


def test_a_good_release_reaches_every_pole_in_three_stages(city: City) -> None:
    before = {d: p.layout.link("current") for d, p in city.poles.items()}
    rid = city.publish(city.bundle("good"))
    rollout = city.rollout(rid, _three_stages(["rr-c1"]))
    done = city.until(rollout, "done", lambda st: st["status"] == "done", timeout=240)
    assert [st["counts"] for st in done["stages"]] == [
        {"healthy": 1}, {"healthy": 2}, {"healthy": 2},
    ]  # fmt: skip
    assert (done["healthy"], done["failed"], done["devices"]) == (5, 0, 5)
    stage_of = {d["device"]: d["stage"] for d in done["device_progress"]}
    assert stage_of == {"rr-c1": 0, "rr-n1": 1, "rr-n2": 1, "rr-c2": 2, "rr-s1": 2}
    # nobody of a stage was told before the stage before it had finished
    finished = [datetime.fromisoformat(st["finished_at"]) for st in done["stages"]]
    for d in done["device_progress"]:
        assert d["state"] == "healthy", d
        if d["stage"] > 0:
            assert datetime.fromisoformat(d["sent_at"]) >= finished[d["stage"] - 1], d
    for device, pole in city.poles.items():
        city.runs_on(pole, rid)
        assert pole.layout.link("previous") == before[device]
        assert [c.args for c in city.install_commands(device) if c.args["release"] == rid] == [
            {"release": rid}
        ]


BAD = ["crash", "no_connect", "tampered_file", "tampered_signature"]
CANARIES = ["rr-c1", "rr-s1"]


def _bad_release(city: City, fault: str) -> str:
    """Publish a release that goes wrong on a pole as ``fault`` says; its id."""
    if fault == "crash":
        return city.publish(city.bundle("crash", wheel=crashing_wheel(city.tmp / "crash")))
    if fault == "no_connect":
        return city.publish(city.bundle("no-connect", port=free_port()))
    rid = city.publish(city.bundle(fault))
    manifest = (city.store / rid / r.MANIFEST).read_bytes()
    if fault == "tampered_file":
        # the hub's stored copy of a file no other release shares goes bad after publishing
        config = r.parse_manifest(manifest).by_role("config")[0]
        stored = city.store / r.FILES / config.sha256
        data = bytearray(stored.read_bytes())
        data[-2] ^= 0x01
        stored.write_bytes(bytes(data))
    else:
        # the stored signature is replaced by one made with a key the poles do not trust
        forged = r.encode_signature(r.sign(manifest, r.generate_key()))
        (city.store / rid / r.SIGNATURE).write_bytes(forged)
    return rid


WHY = {
    "crash": ("rolled_back", "did not pass its health check in 3 start(s)"),
    "no_connect": ("rolled_back", "never connected to the broker"),
    "tampered_file": ("failed", "SHA-256 differs from the manifest"),
    "tampered_signature": ("failed", "signature does not match"),
}


@pytest.mark.parametrize("fault", BAD)
def test_a_bad_release_is_undone_on_every_canary_and_reaches_nobody_else(
    city: City, fault: str
) -> None:
    before = {d: _current(p) for d, p in city.poles.items()}
    starts = {d: p.supervisor.starts for d, p in city.poles.items()}
    told = {d: len(city.install_commands(d)) for d in city.poles}
    heard = {d: p.log.read_text().count(INSTALL) for d, p in city.poles.items()}
    rid = _bad_release(city, fault)
    rollout = city.rollout(rid, _three_stages(CANARIES))
    state, why = WHY[fault]

    def canaries_final(st: dict[str, Any]) -> bool:
        rows = [d for d in st["device_progress"] if d["device"] in CANARIES]
        return st["status"] == "halted" and all(d["state"] == state for d in rows)

    halted = city.until(rollout, f"halted, canaries {state}", canaries_final, timeout=120)
    assert re.fullmatch(r"stage kanarie: [12] device\(s\) failed, at most 0 allowed",
                        halted["reason"]), halted["reason"]  # fmt: skip
    for device in CANARIES:
        pole = city.poles[device]
        city.runs_on(pole, before[device])
        assert not pole.layout.installed(rid) or pole.layout.link("current") != rid
    # the canaries took their time to come back: the rollout worker has ticked many times
    after = city.status(rollout)
    assert after["status"] == "halted"
    assert [st["counts"] for st in after["stages"]] == [{state: 2}, {"pending": 2}, {"pending": 1}]
    reasons = [d["reason"] for d in after["device_progress"] if d["stage"] == 0]
    assert all(why in reason for reason in reasons), reasons
    for device, pole in city.poles.items():
        if device in CANARIES:
            assert len(city.install_commands(device)) == told[device] + 1
            continue
        assert len(city.install_commands(device)) == told[device], device
        assert pole.log.read_text().count(INSTALL) == heard[device], device
        assert pole.layout.link("current") == before[device]
        assert not pole.layout.installed(rid)
        assert pole.supervisor.starts == starts[device]
    resp = city.http.post(f"/api/v1/rollouts/{rollout}/abort", headers=city.h())
    assert resp.status_code == 200, resp.text


def test_a_damaged_release_published_again_is_repaired_and_reaches_every_pole(
    city: City,
) -> None:
    bundle = city.bundle("repaired")
    rid = city.publish(bundle)
    manifest = r.parse_manifest((bundle / r.MANIFEST).read_bytes())
    config = city.store / r.FILES / manifest.by_role("config")[0].sha256
    config.write_bytes(config.read_bytes() + b"# damaged\n")
    (city.store / rid / r.SIGNATURE).write_bytes(b"not a signature")
    again = city.upload(bundle)
    assert again.status_code == 200, again.text
    rollout = city.rollout(rid, _three_stages(["rr-n1"]))
    done = city.until(rollout, "done", lambda st: st["status"] == "done", timeout=240)
    assert (done["healthy"], done["failed"], done["devices"]) == (5, 0, 5)
    for pole in city.poles.values():
        city.runs_on(pole, rid)
