"""Over-the-air releases on real poles: ``trygg edge`` processes under a supervisor that
plays systemd (the lone launcher before every start), the real Mosquitto with TLS and
client certificates, and an HTTPS release server that asks for the pole's certificate.

A good release installs and is proven healthy; a release that crashes at start, one that
cannot connect, one with a bad signature and one with a tampered file all leave the pole on
the release it had, with a report saying why; SIGKILL at random points of an install leaves
the pole on a working release.
"""

from __future__ import annotations

import random
import shutil
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from edge.provision import HUB_USER
from tests.edge.secure import lamp_assets, secure_stack
from tests.ota_edge.pole import (
    Acker,
    Pole,
    Releases,
    ReleaseServer,
    Supervisor,
    crashing_wheel,
    device_tls,
    installed_root,
    lone_launcher,
    pole_device_file,
    trygg_wheel,
    wait_for,
)
from trygg import contract as c
from trygg import release as r

pytestmark = pytest.mark.integration

DEVICES = [f"ota-pole-{i}" for i in range(1, 11)]
HEALTH_DEADLINE_S = 10.0


@dataclass
class Net(Releases):
    server: ReleaseServer
    acker: Acker
    launcher: Path
    good: str = ""
    template: Path = Path()  # an A/B root with the good release installed and current


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    tmp = tmp_path_factory.mktemp("ota")
    with secure_stack(tmp, {d: lamp_assets(d, lamps=1, interval_s=0.2) for d in DEVICES}) as s:
        files = s.files
        server = ReleaseServer(
            tmp / "served", cafile=files.cafile, certfile=files.certfile, keyfile=files.keyfile
        )
        acker = Acker(port=s.stack.ports.mqtt, username=HUB_USER, password=s.prov.hub_password())
        key = r.generate_key()
        _priv, pub = r.save_keypair(tmp / "keys", key)
        wheel = trygg_wheel(tmp / "wheels")
        net = Net(tmp, s, key, pub, wheel, server, acker, lone_launcher(tmp / "opt"))
        good = server.publish(net.bundle("good"))
        template = installed_root(
            tmp / "template",
            base_url=server.url,
            release=good,
            pub=pub,
            tls=device_tls(s, DEVICES[0]),
        )
        net.good, net.template = good, template
        try:
            yield net
        finally:
            acker.close()
            server.close()


_used: set[str] = set()


@pytest.fixture
def pole(net: Net) -> Iterator[Pole]:
    """A pole on the good release (its A/B root a copy of the template)."""
    yield from _pole(net, on_release=True)


@pytest.fixture
def bare_pole(net: Net) -> Iterator[Pole]:
    """A pole with a hand-installed agent: no release yet."""
    yield from _pole(net, on_release=False)


def _pole(net: Net, *, on_release: bool) -> Iterator[Pole]:
    device = next(d for d in DEVICES if d not in _used)
    _used.add(device)
    home = net.tmp / "poles" / device
    root = home / "ab"
    if on_release:
        shutil.copytree(net.template, root, symlinks=True)
    device_file = pole_device_file(
        net.secure,
        device,
        home,
        release_url=net.server.url,
        pub=net.pub,
        root=root,
        health_deadline_s=HEALTH_DEADLINE_S,
    )
    log = home / "agent.log"
    sup = Supervisor(launcher=net.launcher, root=root, device_file=device_file, log=log)
    p = Pole(device, root, sup, log)
    try:
        expected = net.good if on_release else None
        wait_for(
            f"{device} to run",
            lambda: (b := net.acker.last_birth(device)) is not None and b.release == expected,
            timeout=60,
        )
        yield p
    finally:
        sup.stop()


def _install(net: Net, pole: Pole, release: str) -> str:
    cid = f"install-{uuid.uuid4().hex[:8]}"
    cmd = c.Command(
        id=cid, name="install_release", args={"release": release}, ts=int(time.time() * 1000)
    )
    net.acker.client.publish(c.topic_for(pole.device, c.Kind.CMD), c.encode(cmd), qos=1)
    return cid


def _final(net: Net, pole: Pole, release: str, state: str) -> c.ReleaseReport:
    wait_for(
        f"{pole.device}: {state} for {release[:12]}",
        lambda: state in net.acker.states(pole.device, release),
        timeout=120,
    )
    return next(
        x for x in net.acker.reports(pole.device) if x.release == release and x.state == state
    )


def _runs(net: Net, pole: Pole, release: str | None) -> None:
    """The pole's agent is up on ``release``, with nothing on trial, and acknowledged."""
    wait_for(
        f"{pole.device} back on {release and release[:12]}",
        lambda: (
            (b := net.acker.last_birth(pole.device)) is not None
            and b.release == release
            and pole.layout.trial() is None
        ),
        timeout=90,
    )
    assert pole.layout.link("current") == release
    acked = net.acker.seen.acked.get(pole.device, 0)
    wait_for("new readings acknowledged", lambda: net.acker.seen.acked.get(pole.device, 0) > acked)


def test_the_release_server_wants_a_fleet_certificate(net: Net) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(
            f"{net.server.url}/{net.good}/manifest.json",
            verify=ssl.create_default_context(cafile=str(net.secure.files.cafile)),
            timeout=10,
        )


def test_a_good_release_installs_from_a_hand_installed_agent_and_reports_healthy(
    net: Net, bare_pole: Pole
) -> None:
    cid = _install(net, bare_pole, net.good)
    report = _final(net, bare_pole, net.good, "healthy")
    assert report.command == cid
    # at least once: a report published just before a restart may come again from the next
    assert list(dict.fromkeys(net.acker.states(bare_pole.device, net.good))) == [
        "downloading",
        "verified",
        "installed",
        "switched",
        "healthy",
    ]
    _runs(net, bare_pole, net.good)
    assert 75 in bare_pole.supervisor.exits
    installed = bare_pole.layout.release_dir(net.good)
    assert (installed / "config" / "fleet.yaml").is_file()
    assert (installed / "lib" / "edge" / "agent.py").is_file()


def test_a_release_that_crashes_at_start_is_rolled_back_by_the_launcher(
    net: Net, pole: Pole
) -> None:
    bad = net.server.publish(net.bundle("crash", wheel=crashing_wheel(net.tmp / "crash")))
    _install(net, pole, bad)
    report = _final(net, pole, bad, "rolled_back")
    assert "did not pass its health check in 3 start(s)" in report.reason
    _runs(net, pole, net.good)
    assert "this release crashes at start" in pole.log.read_text()
    assert not pole.layout.installed(bad) or pole.layout.link("current") != bad


def test_a_release_that_cannot_connect_rolls_itself_back(net: Net, pole: Pole) -> None:
    from trygg.stack import free_port

    bad = net.server.publish(net.bundle("wrong-port", port=free_port()))
    _install(net, pole, bad)
    report = _final(net, pole, bad, "rolled_back")
    assert "never connected to the broker" in report.reason
    assert "switched" in net.acker.states(pole.device, bad)
    _runs(net, pole, net.good)


def test_a_release_with_a_bad_signature_is_refused_before_anything_changes(
    net: Net, pole: Pole
) -> None:
    bad = net.server.publish(net.bundle("forged", key=r.generate_key()))
    _install(net, pole, bad)
    report = _final(net, pole, bad, "failed")
    assert "signature does not match" in report.reason
    assert list(dict.fromkeys(net.acker.states(pole.device, bad))) == ["downloading", "failed"]
    assert not pole.layout.installed(bad)
    assert pole.supervisor.starts == 1
    _runs(net, pole, net.good)


def test_a_release_with_a_tampered_file_is_refused(net: Net, pole: Pole) -> None:
    rid = net.server.publish(net.bundle("tampered"))
    served = net.server.folder / "releases" / rid
    manifest = r.parse_manifest((served / r.MANIFEST).read_bytes())
    wheel = served / r.FILES / manifest.by_role("wheel")[0].sha256
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0x01
    wheel.write_bytes(bytes(data))
    _install(net, pole, rid)
    report = _final(net, pole, rid, "failed")
    assert "SHA-256 differs from the manifest" in report.reason
    assert not pole.layout.installed(rid)
    assert not list((pole.root / "staging").iterdir())
    assert pole.supervisor.starts == 1
    _runs(net, pole, net.good)


@pytest.mark.parametrize("seed", [11, 23, 37])
def test_sigkill_at_a_random_point_of_an_install_leaves_a_working_release(
    net: Net, pole: Pole, seed: int
) -> None:
    rid = net.server.publish(net.bundle(f"kill-{seed}"))
    rng = random.Random(seed)
    _install(net, pole, rid)
    time.sleep(rng.uniform(0.0, 8.0))
    pole.supervisor.kill()
    states_at_kill = net.acker.states(pole.device, rid)
    # whatever was under way, the pole settles on one of the two releases, which runs
    wait_for(
        "the pole to settle",
        lambda: (
            pole.layout.trial() is None
            and (b := net.acker.last_birth(pole.device)) is not None
            and b.release == pole.layout.link("current")
            and b.release in (net.good, rid)
        ),
        timeout=120,
    )
    final = pole.layout.link("current")
    _runs(net, pole, final)
    if final == rid:
        assert "healthy" in net.acker.states(pole.device, rid), states_at_kill
    assert {p.name for p in pole.layout.releases.iterdir()} <= {net.good, rid}
