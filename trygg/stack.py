"""The local stack: Mosquitto and InfluxDB 1.x from Debian's packages as child processes.

Config is generated into a state folder, ports are configurable (free ports in tests), each
service is waited for until it really answers (an MQTT CONNACK, an InfluxDB ``/ping``), and
stopped cleanly. ``trygg stack up|down|status`` and the pytest fixtures both use this module.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

MQTT_MAX_PACKET_BYTES: Final = 1024 * 1024  # above the contract's limit, so the hub sees and
# dead-letters oversized payloads; the broker disconnects anything larger still.
MQTT_MAX_QUEUED_BYTES: Final = 1024 * 1024 * 1024


class StackError(RuntimeError):
    """A service could not be found, configured or started."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_binary(name: str, package: str) -> str:
    """Path of a service binary, or a StackError naming the Debian package to install."""
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise StackError(
        f"{name} not found: install the Debian package '{package}' (apt-get install {package})"
    )


@dataclass(frozen=True, slots=True)
class BrokerAuth:
    """Files for an authenticated broker; all optional (anonymous loopback when None)."""

    password_file: Path | None = None
    acl_file: Path | None = None
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    crlfile: Path | None = None
    tls_port: int | None = None


def mosquitto_conf(
    *, state_dir: Path, port: int, auth: BrokerAuth | None = None, autosave_interval_s: int = 30
) -> str:
    """Mosquitto 2.0 config suited to a fleet.

    The hub's persistent session may queue without a message-count limit but with a byte
    bound; no inflight cap; persistence saved periodically (per-change autosave would make
    every message a disk write, and the end-to-end acknowledgement is what protects data, not
    the broker's disk).
    """
    auth = auth or BrokerAuth()
    lines = [
        "per_listener_settings false",
        "persistence true",
        f"persistence_location {state_dir}/",
        f"autosave_interval {autosave_interval_s}",
        "max_queued_messages 0",
        f"max_queued_bytes {MQTT_MAX_QUEUED_BYTES}",
        "max_inflight_messages 0",
        f"max_packet_size {MQTT_MAX_PACKET_BYTES}",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages false",
        "set_tcp_nodelay true",
    ]
    if os.geteuid() == 0:
        lines.append("user root")  # else it drops to 'mosquitto' and can't write state_dir
    if auth.password_file or auth.certfile:
        lines.append("allow_anonymous false")
    else:
        lines.append("allow_anonymous true")
    if auth.password_file:
        lines.append(f"password_file {auth.password_file}")
    if auth.acl_file:
        lines.append(f"acl_file {auth.acl_file}")
    lines.append(f"listener {port} 127.0.0.1")
    if auth.tls_port and auth.certfile and auth.keyfile and auth.cafile:
        lines += [
            f"listener {auth.tls_port} 127.0.0.1",
            f"cafile {auth.cafile}",
            f"certfile {auth.certfile}",
            f"keyfile {auth.keyfile}",
            "require_certificate true",
            "use_identity_as_username true",
        ]
        if auth.crlfile:
            lines.append(f"crlfile {auth.crlfile}")
    return "\n".join(lines) + "\n"


def influx_conf(
    *,
    state_dir: Path,
    http_port: int,
    rpc_port: int,
    auth_enabled: bool = False,
    max_body_size: int = 0,
) -> str:
    """InfluxDB 1.x config: loopback only, own data dirs, no telemetry, quiet logs.
    ``auth_enabled``: users and passwords required (the first user made must be an admin);
    ``max_body_size``: bytes a write may carry (0: no limit; above it InfluxDB answers 413)."""
    return f"""reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{state_dir}/meta"

[data]
  dir = "{state_dir}/data"
  wal-dir = "{state_dir}/wal"
  query-log-enabled = false
  index-version = "inmem"

[coordinator]
  write-timeout = "30s"

[retention]
  enabled = true
  check-interval = "30m"

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
  auth-enabled = {"true" if auth_enabled else "false"}
  max-body-size = {max_body_size}

[continuous_queries]
  enabled = true
  log-enabled = false
  run-interval = "1s"
"""


def _mqtt_connack(port: int, timeout: float = 0.5) -> bool:
    """True when a broker on ``port`` answers an MQTT 3.1.1 CONNECT with a CONNACK."""
    client_id = b"trygg-probe"
    var_header = b"\x00\x04MQTT\x04\x02\x00\x05"
    payload = len(client_id).to_bytes(2, "big") + client_id
    body = var_header + payload
    packet = bytes([0x10, len(body)]) + body
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(packet)
            reply = s.recv(4)
            with contextlib.suppress(OSError):
                s.sendall(b"\xe0\x00")  # DISCONNECT
            return len(reply) >= 2 and reply[0] == 0x20
    except OSError:
        return False


def _influx_ping(port: int, timeout: float = 0.5) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=timeout) as resp:
            return int(resp.status) == 204
    except (urllib.error.URLError, OSError):
        return False


def _raise_nofile() -> None:
    """Open-file soft limit up to the hard limit, in this process so that the services it
    starts inherit it (no preexec_fn: unsafe with threads). Mosquitto holds one descriptor
    per client; a 10,000-device fleet needs more than the usual soft 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class Service:
    """One child process with its config, log file and readiness probe."""

    name: str
    argv: list[str]
    log_path: Path
    port: int
    kind: str  # "mqtt" | "influx"
    process: subprocess.Popen[bytes] | None = None
    pid: int | None = None

    def ready(self) -> bool:
        return _mqtt_connack(self.port) if self.kind == "mqtt" else _influx_ping(self.port)

    def start(self, *, timeout: float = 20.0, detach: bool = False) -> None:
        if self.running():
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        _raise_nofile()
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=detach,
            )
        self.pid = self.process.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-800:]
                raise StackError(f"{self.name} exited with {self.process.returncode}:\n{tail}")
            if self.ready():
                log.info("%s ready on 127.0.0.1:%d (pid %d)", self.name, self.port, self.pid)
                return
            time.sleep(0.02)
        self.stop()
        raise StackError(f"{self.name} did not answer on port {self.port} within {timeout}s")

    def running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        return True

    def stop(self, *, timeout: float = 15.0) -> None:
        """SIGTERM and wait (Mosquitto saves its database on TERM); SIGKILL past timeout."""
        self._signal_and_wait(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash or power loss would."""
        self._signal_and_wait(signal.SIGKILL, 10.0)

    def _signal_and_wait(self, sig: signal.Signals, timeout: float) -> None:
        if not self.running() or self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None:
                if self.process.poll() is not None:
                    break
            elif not self.running():
                break
            time.sleep(0.02)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            if self.process is not None:
                self.process.wait(5)
        self.process = None
        self.pid = None


@dataclass(frozen=True, slots=True)
class StackPorts:
    mqtt: int
    influx: int
    influx_rpc: int


@dataclass
class LocalStack:
    """Mosquitto + InfluxDB under ``state_dir``; ``up()`` waits until both answer."""

    state_dir: Path
    ports: StackPorts
    auth: BrokerAuth | None = None
    influx_auth: bool = False
    influx_max_body_size: int = 0
    mosquitto: Service = field(init=False)
    influx: Service = field(init=False)

    def __post_init__(self) -> None:
        self.state_dir = self.state_dir.resolve()
        mqtt_dir = self.state_dir / "mosquitto"
        influx_dir = self.state_dir / "influxdb"
        self.mosquitto = Service(
            name="mosquitto",
            argv=[find_binary("mosquitto", "mosquitto"), "-c", str(mqtt_dir / "mosquitto.conf")],
            log_path=mqtt_dir / "mosquitto.log",
            port=self.ports.mqtt,
            kind="mqtt",
        )
        self.influx = Service(
            name="influxd",
            argv=[find_binary("influxd", "influxdb"), "-config", str(influx_dir / "influxdb.conf")],
            log_path=influx_dir / "influxd.log",
            port=self.ports.influx,
            kind="influx",
        )

    @property
    def mqtt_url(self) -> str:
        return f"mqtt://127.0.0.1:{self.ports.mqtt}"

    @property
    def influx_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.influx}"

    def write_config(self) -> None:
        mqtt_dir = self.state_dir / "mosquitto"
        influx_dir = self.state_dir / "influxdb"
        mqtt_dir.mkdir(parents=True, exist_ok=True)
        influx_dir.mkdir(parents=True, exist_ok=True)
        (mqtt_dir / "mosquitto.conf").write_text(
            mosquitto_conf(state_dir=mqtt_dir, port=self.ports.mqtt, auth=self.auth)
        )
        (influx_dir / "influxdb.conf").write_text(
            influx_conf(
                state_dir=influx_dir,
                http_port=self.ports.influx,
                rpc_port=self.ports.influx_rpc,
                auth_enabled=self.influx_auth,
                max_body_size=self.influx_max_body_size,
            )
        )

    def up(self, *, detach: bool = False) -> None:
        self.write_config()
        self.mosquitto.start(detach=detach)
        try:
            self.influx.start(detach=detach)
        except StackError:
            self.mosquitto.stop()
            raise
        if detach:
            self._save_pids()

    def down(self) -> None:
        self._load_pids()
        self.mosquitto.stop()
        self.influx.stop()
        (self.state_dir / "stack.json").unlink(missing_ok=True)

    def status(self) -> dict[str, dict[str, object]]:
        self._load_pids()
        return {
            svc.name: {
                "port": svc.port,
                "pid": svc.pid,
                "running": svc.running(),
                "ready": svc.ready(),
            }
            for svc in (self.mosquitto, self.influx)
        }

    def _save_pids(self) -> None:
        data = {
            "ports": asdict(self.ports),
            "pids": {"mosquitto": self.mosquitto.pid, "influxd": self.influx.pid},
        }
        (self.state_dir / "stack.json").write_text(json.dumps(data))

    def _load_pids(self) -> None:
        path = self.state_dir / "stack.json"
        if not path.exists():
            return
        pids = json.loads(path.read_text())["pids"]
        if self.mosquitto.process is None:
            self.mosquitto.pid = pids.get("mosquitto")
        if self.influx.process is None:
            self.influx.pid = pids.get("influxd")

    @classmethod
    def load(cls, state_dir: Path) -> LocalStack:
        """The stack recorded in ``state_dir/stack.json`` by a detached ``up``."""
        path = state_dir / "stack.json"
        if not path.exists():
            raise StackError(f"no stack recorded in {state_dir} (run 'trygg stack up')")
        ports = StackPorts(**json.loads(path.read_text())["ports"])
        return cls(state_dir=state_dir, ports=ports)
