"""What the over-the-air tests run poles against: an HTTPS release server with client
certificates, a stand-in for the hub's acknowledgements that also records births and
release reports, and a supervisor that plays systemd (ExecStartPre launcher, Restart=always).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import json
import shutil
import ssl
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion

from edge import ab
from edge.release_fetch import Tls, download
from edge.release_install import install
from tests.edge.secure import SecureStack
from trygg import contract as c
from trygg import release as r


class ReleaseServer:
    """Serves ``folder/<release id>/...`` over HTTPS to clients with a fleet certificate
    (the layout and paths of the hub's release server)."""

    def __init__(self, folder: Path, *, cafile: Path, certfile: Path, keyfile: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(cafile))
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_cert_chain(str(certfile), str(keyfile))
        handler = functools.partial(_Quiet, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"https://localhost:{self.port}/releases"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def publish(self, bundle: Path) -> str:
        """Copy ``bundle`` where a pole fetches it; the release id."""
        rid = r.release_id((bundle / r.MANIFEST).read_bytes())
        shutil.copytree(bundle, self.folder / "releases" / rid)
        return rid

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        del format, args


@dataclass
class Seen:
    births: list[c.Birth] = field(default_factory=list)
    reports: list[c.ReleaseReport] = field(default_factory=list)
    acked: dict[str, int] = field(default_factory=dict)


class Acker:
    """Plays the hub's part the health check needs: acknowledges every data and event
    message end to end, and records births and release reports."""

    def __init__(self, *, port: int, username: str, password: str) -> None:
        self.seen = Seen()
        self.lock = threading.Lock()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="ota-acker", protocol=paho.MQTTv5
        )
        self.client.username_pw_set(username, password)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        for kind in (c.Kind.DATA, c.Kind.EVENT, c.Kind.BIRTH, c.Kind.RELEASE):
            self.client.subscribe(c.subscription(kind), qos=1)
        self.client.loop_start()

    def _on_message(self, client: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        device, kind = msg.topic.split("/")[-2:]
        with self.lock:
            if kind == c.Kind.BIRTH.value:
                self.seen.births.append(c.decode(c.Kind.BIRTH, bytes(msg.payload)))
            elif kind == c.Kind.RELEASE.value:
                self.seen.reports.append(c.decode(c.Kind.RELEASE, bytes(msg.payload)))
            else:
                seq = int(json.loads(msg.payload)["seq"])
                self.seen.acked[device] = max(seq, self.seen.acked.get(device, 0))
                ack = c.Ack(device=device, seq=self.seen.acked[device], ts=int(time.time() * 1000))
                client.publish(c.topic_for(device, c.Kind.ACK), c.encode(ack), qos=1)

    def states(self, device: str, release: str) -> list[str]:
        with self.lock:
            return [
                x.state for x in self.seen.reports if x.device == device and x.release == release
            ]

    def reports(self, device: str) -> list[c.ReleaseReport]:
        with self.lock:
            return [x for x in self.seen.reports if x.device == device]

    def last_birth(self, device: str) -> c.Birth | None:
        with self.lock:
            births = [b for b in self.seen.births if b.device == device]
        return births[-1] if births else None

    def births_since(self, device: str, count: int) -> list[c.Birth]:
        with self.lock:
            return [b for b in self.seen.births if b.device == device][count:]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Supervisor:
    """systemd's part for one pole: before every start the launcher's ``prestart`` (a lone
    copy of edge/ab.py, outside every release), then ``exec`` of ``current``'s agent;
    restarted 0.2 s after any exit until :meth:`stop`."""

    def __init__(self, *, launcher: Path, root: Path, device_file: Path, log: Path) -> None:
        self.launcher, self.root, self.device_file, self.log = launcher, root, device_file, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.exits: list[int] = []
        self.starts = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _cmd(self, *args: str) -> list[str]:
        return [sys.executable, "-S", str(self.launcher), *args, "--root", str(self.root)]

    def _loop(self) -> None:
        with self.log.open("ab") as log:
            while not self._stopping.is_set():
                subprocess.run(self._cmd("prestart"), stdout=log, stderr=log, check=True)
                argv = [*self._cmd("exec"), "--python", sys.executable]
                argv += ["--", "--config", str(self.device_file)]
                with self._lock:
                    if self._stopping.is_set():
                        return
                    self.proc = subprocess.Popen(argv, stdout=log, stderr=log)
                    self.starts += 1
                code = self.proc.wait()
                self.exits.append(code)
                self._stopping.wait(0.2)

    def kill(self) -> None:
        with self._lock:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            if self.proc is not None and self.proc.poll() is None:
                self.proc.terminate()
        self._thread.join(timeout=30)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()


@dataclass
class Pole:
    """One pole of a test: its device id, A/B root, supervisor and agent log."""

    device: str
    root: Path
    supervisor: Supervisor
    log: Path

    @property
    def layout(self) -> ab.Layout:
        return ab.Layout(self.root)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def trygg_wheel(out: Path, *, replace: dict[str, bytes] | None = None) -> Path:
    """A pure-Python wheel of this checkout's ``trygg`` and ``edge`` packages (the agent a
    release carries), with the files in ``replace`` swapped. Built here because this
    machine's setuptools has no ``bdist_wheel``; CI builds the real one with ``pip wheel``."""
    repo = Path(__file__).resolve().parents[2]
    replace = replace or {}
    out.mkdir(parents=True, exist_ok=True)
    target = out / "trygg-0.1.0-py3-none-any.whl"
    dist = "trygg-0.1.0.dist-info"
    files: dict[str, bytes] = {}
    for package in ("trygg", "edge"):
        for path in sorted((repo / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                name = path.relative_to(repo).as_posix()
                files[name] = replace.get(name, path.read_bytes())
    files[f"{dist}/METADATA"] = b"Metadata-Version: 2.1\nName: trygg\nVersion: 0.1.0\n"
    files[f"{dist}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [
        f"{name},sha256={_b64(hashlib.sha256(data).digest())},{len(data)}"
        for name, data in files.items()
    ]
    files[f"{dist}/RECORD"] = ("\n".join([*record, f"{dist}/RECORD,,"]) + "\n").encode()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return target


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def crashing_wheel(out: Path) -> Path:
    """A wheel whose agent dies at start (``python -m edge`` raises at once)."""
    crash = b'raise SystemExit("this release crashes at start")\n'
    return trygg_wheel(out, replace={"edge/__main__.py": crash})


def lone_launcher(folder: Path) -> Path:
    """edge/ab.py as installed on a pole: a lone file outside every release."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "trygg-launch.py"
    shutil.copy(Path(ab.__file__), target)
    return target


def fleet_defaults(port: int) -> dict[str, object]:
    """The fleet defaults a release carries, for the broker's TLS listener on ``port``."""
    return {
        "site": "solna-centrum",
        "heartbeat_s": 60,
        "broker": {"port": port, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0, "keepalive_s": 10},
        "outbox": {"flush_s": 0.2, "ack_timeout_s": 3.0, "synchronous": "NORMAL"},
    }


@dataclass
class Releases:
    """Makes a test's releases: this checkout's agent wheel with fleet defaults for the
    broker's TLS listener, signed by the city's key (``pub`` is its public half)."""

    tmp: Path
    secure: SecureStack
    key: Ed25519PrivateKey
    pub: Path
    wheel: Path

    def bundle(
        self,
        name: str,
        *,
        port: int | None = None,
        wheel: Path | None = None,
        key: Ed25519PrivateKey | None = None,
    ) -> Path:
        """The bundle folder of release ``name``: ``wheel`` (default: this checkout's) and
        a fleet.yaml for broker ``port`` (default: the right one), signed by ``key``
        (default: the city's). Its fleet.yaml names the release in a comment, so that file
        is stored under a hash no other release shares (damaging it touches this one only)."""
        src = self.tmp / "src" / name
        src.mkdir(parents=True)
        fleet = src / "fleet.yaml"
        port = port or self.secure.tls_port
        fleet.write_text(f"# release {name}\n" + yaml.safe_dump(fleet_defaults(port)))
        out = self.tmp / "bundles" / name
        r.build_bundle(
            out,
            private_key=key or self.key,
            version=name,
            sources=[r.Source(wheel or self.wheel, "wheel"), r.Source(fleet, "config")],
            created_ms=int(time.time() * 1000),
            notes=name,
        )
        return out


def installed_root(root: Path, *, base_url: str, release: str, pub: Path, tls: Tls) -> Path:
    """An A/B root at ``root`` with ``release`` (fetched from ``base_url``) installed and
    current: what every pole of a test fleet starts from (copy it, links and all)."""
    layout = ab.Layout(root)
    layout.ensure()
    got = download(
        base_url=base_url,
        release_id=release,
        dest=layout.staging / release,
        public_keys=r.load_public_keys([pub]),
        tls=tls,
        timeout_s=30,
    )
    install(got, layout, python=sys.executable)
    layout.point("current", release)
    shutil.rmtree(layout.staging)
    return root


def device_tls(secure: SecureStack, device: str) -> Tls:
    """The fleet CA and ``device``'s provisioned certificate and key."""
    folder = secure.prov.secrets / "devices" / device
    return Tls(secure.files.cafile, folder / f"{device}.crt", folder / f"{device}.key")


def pole_device_file(
    secure: SecureStack,
    device: str,
    home: Path,
    *,
    release_url: str,
    pub: Path,
    root: Path,
    health_deadline_s: float,
    **over: object,
) -> Path:
    """``device``'s config under ``home/etc`` (local fleet defaults beside it) for a pole on
    the TLS listener with its certificate, taking releases from ``release_url`` into the
    A/B root ``root``; ``over`` sets more top-level keys (``site``, say)."""
    etc = home / "etc"
    (etc / "devices").mkdir(parents=True)
    (etc / "fleet.yaml").write_text(yaml.safe_dump(fleet_defaults(secure.tls_port)))
    tls = device_tls(secure, device)
    doc = yaml.safe_load((secure.config_dir / "devices" / f"{device}.yaml").read_text())
    doc |= {
        "state_dir": str(home / "state"),
        "broker": {
            "host": "127.0.0.1",
            "tls": True,
            "ca_file": str(tls.ca_file),
            "cert_file": str(tls.cert_file),
            "key_file": str(tls.key_file),
        },
        "release": {
            "url": release_url,
            "public_keys": [str(pub)],
            "root": str(root),
            "health_deadline_s": health_deadline_s,
        },
        **over,
    }
    device_file = etc / "devices" / f"{device}.yaml"
    device_file.write_text(yaml.safe_dump(doc))
    return device_file


def tree_files(folder: Path) -> Iterator[Path]:
    return (p for p in folder.rglob("*") if p.is_file())
