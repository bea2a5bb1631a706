"""The compose stack's TLS proxy, run for real: Debian's nginx with the template from
deploy/proxy (filled in by envsubst, as the official image does) and a certificate from
deploy/make-tls.sh, in front of small HTTP servers standing in for the two hubs and Grafana."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.needs import need_binary
from trygg.stack import free_port

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "deploy/proxy/default.conf.template"
HOST = "trygg.test"


@dataclass
class Backend:
    name: str
    port: int = 0
    seen: list[dict[str, object]] = field(default_factory=list)
    close: Callable[[], None] = lambda: None  # stops the server: the hub is gone


@contextlib.contextmanager
def backend(name: str) -> Iterator[Backend]:
    """A plain HTTP server on loopback that records each request and answers with its name."""
    state = Backend(name)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._any()

        def do_POST(self) -> None:
            self._any()

        def _any(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(size) if size else b""
            state.seen.append(
                {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "bytes": len(body),
                }
            )
            reply = json.dumps({"backend": state.name}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name=f"backend-{name}", daemon=True)
    thread.start()

    def close() -> None:
        server.shutdown()
        server.server_close()

    state.close = close
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Proxy:
    https_port: int
    grafana_port: int
    ca: Path
    api: Backend
    grafana: Backend
    api_2: Backend  # the second hub

    def api_seen(self) -> list[dict[str, object]]:
        """What either hub was asked."""
        return self.api.seen + self.api_2.seen

    def curl(self, url: str, *args: str, host: str = HOST) -> subprocess.CompletedProcess[str]:
        """curl ``url`` with the proxy's name resolving to loopback, trusting the stack's CA."""
        ports = (self.https_port, self.grafana_port)
        resolve = [a for p in ports for a in ("--resolve", f"{host}:{p}:127.0.0.1")]
        return subprocess.run(
            ["curl", "-sS", "--max-time", "10", "--cacert", str(self.ca), *resolve, *args, url],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {log.read_text() if log.exists() else ''}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("nginx did not listen")


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    nginx = need_binary("nginx", "nginx-light")
    envsubst = need_binary("envsubst", "gettext-base")
    need_binary("curl", "curl")
    tls = tmp_path / "tls"
    subprocess.run(
        ["sh", str(REPO / "deploy/make-tls.sh"), "--host", HOST, "--ca-dir", str(tmp_path / "ca"),
         "--out", str(tls)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    with backend("api") as api, backend("grafana") as grafana, backend("api-2") as api_2:
        env = {
            "TRYGG_PROXY_HTTPS_PORT": str(free_port()),
            "TRYGG_PROXY_GRAFANA_PORT": str(free_port()),
            "TRYGG_PROXY_API_UPSTREAM": f"127.0.0.1:{api.port}",
            "TRYGG_PROXY_API_UPSTREAM_2": f"127.0.0.1:{api_2.port}",
            "TRYGG_PROXY_GRAFANA_UPSTREAM": f"127.0.0.1:{grafana.port}",
            "TRYGG_PROXY_CERT": str(tls / "server.crt"),
            "TRYGG_PROXY_KEY": str(tls / "server.key"),
        }
        # What the official image's 20-envsubst-on-templates.sh does with the template.
        rendered = subprocess.run(
            [envsubst, " ".join(f"${{{k}}}" for k in env)],
            input=TEMPLATE.read_text(),
            env={"PATH": os.environ["PATH"], **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (tmp_path / "trygg.conf").write_text(rendered)
        temp = tmp_path / "temp"
        temp.mkdir()
        user = "user root;\n" if os.geteuid() == 0 else ""
        (tmp_path / "nginx.conf").write_text(
            f"{user}worker_processes 1;\ndaemon off;\npid {tmp_path}/nginx.pid;\n"
            f"error_log {tmp_path}/error.log warn;\nevents {{}}\n"
            f"http {{\n access_log off;\n client_body_temp_path {temp}/body;\n"
            f" proxy_temp_path {temp}/proxy;\n include {tmp_path}/trygg.conf;\n}}\n"
        )
        log = tmp_path / "error.log"
        process = subprocess.Popen(
            [nginx, "-p", str(tmp_path), "-e", str(log), "-c", str(tmp_path / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            https_port = int(env["TRYGG_PROXY_HTTPS_PORT"])
            grafana_port = int(env["TRYGG_PROXY_GRAFANA_PORT"])
            _wait_listening(https_port, process, log)
            _wait_listening(grafana_port, process, log)
            yield Proxy(https_port, grafana_port, tls / "ca.crt", api, grafana, api_2)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def test_api_over_https_with_the_proxys_forwarded_headers(proxy: Proxy) -> None:
    url = f"https://{HOST}:{proxy.https_port}/api/v1/tickets?status=open"
    out = proxy.curl(
        url, "-D", "-", "-H", "X-Forwarded-For: 6.6.6.6", "-H", "Forwarded: for=6.6.6.6"
    )
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.partition("\n\n")  # text mode: CRLF read as LF
    assert json.loads(body)["backend"] in {"api", "api-2"}
    assert "strict-transport-security: max-age=31536000" in head.lower()
    (seen,) = proxy.api_seen()
    headers = seen["headers"]
    assert isinstance(headers, dict)
    assert seen["path"] == "/api/v1/tickets?status=open"
    # A client's own forwarded headers are replaced by what the proxy saw, never appended.
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert "forwarded" not in headers
    assert headers["x-forwarded-proto"] == "https"
    assert headers["host"] == f"{HOST}:{proxy.https_port}"
    assert proxy.grafana.seen == []


def test_grafana_over_https_with_websockets(proxy: Proxy) -> None:
    url = f"https://{HOST}:{proxy.grafana_port}/api/live/ws"
    out = proxy.curl(url, "-H", "Connection: Upgrade", "-H", "Upgrade: websocket")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"backend": "grafana"}
    (seen,) = proxy.grafana.seen
    headers = seen["headers"]
    assert isinstance(headers, dict)
    assert (headers["upgrade"], headers["connection"]) == ("websocket", "upgrade")
    assert headers["x-forwarded-proto"] == "https"
    assert proxy.api_seen() == []


def test_a_crew_photo_fits_through_the_proxy(proxy: Proxy, tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff" + os.urandom(5 * 1024 * 1024 - 3))  # the hub's 5 MiB cap
    url = f"https://{HOST}:{proxy.https_port}/api/v1/tickets"
    out = proxy.curl(url, "-F", f"photo=@{photo};type=image/jpeg", "-F", "kind=graffiti")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["backend"] in {"api", "api-2"}
    (seen,) = proxy.api_seen()
    assert isinstance(seen["bytes"], int)
    assert seen["bytes"] > 5 * 1024 * 1024


def test_no_plain_http_and_the_certificate_names_the_host(proxy: Proxy) -> None:
    for port in (proxy.https_port, proxy.grafana_port):
        out = proxy.curl(
            f"http://{HOST}:{port}/api/v1/session", "-o", "/dev/null", "-w", "%{http_code}"
        )
        assert out.stdout == "400", out  # nginx: "plain HTTP request was sent to HTTPS port"
    # Another name for the same server: the certificate does not name it, curl refuses.
    other = proxy.curl(f"https://other.test:{proxy.https_port}/", host="other.test")
    assert other.returncode == 60, other  # CURLE_PEER_FAILED_VERIFICATION
    assert proxy.api_seen() == []
    assert proxy.grafana.seen == []


def test_both_hubs_serve_the_api_one_per_client_and_one_that_is_gone_is_skipped(
    proxy: Proxy,
) -> None:
    url = f"https://{HOST}:{proxy.https_port}/api/v1/alerts"

    def backend_of(client: str) -> str:
        answer = proxy.curl(url, "--interface", client)
        assert answer.returncode == 0, answer.stderr
        return str(json.loads(answer.stdout)["backend"])

    clients = [f"127.0.0.{i}" for i in range(1, 25)]
    first = {client: backend_of(client) for client in clients}
    # Clients are shared out over both hubs, and each client stays with its hub (whose
    # rate limits then count all of its requests).
    assert set(first.values()) == {"api", "api-2"}
    assert all(backend_of(client) == hub for client, hub in list(first.items())[:6])
    proxy.api_2.close()  # the second hub dies: every request is still answered, by the first
    before = len(proxy.api.seen)
    assert {backend_of(client) for client in clients} == {"api"}
    assert len(proxy.api.seen) == before + len(clients)
