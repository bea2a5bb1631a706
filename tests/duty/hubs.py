"""Real hub processes (``python -m trygg.cli hub``) sharing one PostgreSQL, broker and InfluxDB,
and a webhook receiver that records every body it is sent: the rig of the takeover tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.db import LeaseRow
from trygg.stack import LocalStack, free_port


@dataclass
class HubProcess:
    """One hub; its log goes to ``log``."""

    name: str  # its client id, so its lease holder name
    env: dict[str, str]
    log: Path
    api_port: int
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "trygg.cli", "hub"],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        wait_until(self.answers, timeout_s=60, what=f"{self.name}'s API")

    def answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"{self.name} exited {self.proc.returncode}: {self.text()[-2000:]}"
            )
        try:
            return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM (after SIGCONT, in case it was stopped), SIGKILL if it does not end."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def wait_until(check: Callable[[], bool], *, timeout_s: float, what: str) -> float:
    """Seconds it took ``check`` to hold; AssertionError after ``timeout_s``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.05)
    return time.monotonic() - start


def holder(sessions: sessionmaker[Session], name: str) -> str | None:
    """Who holds lease ``name`` now (None: nobody, or expired)."""
    with sessions() as s:
        row = s.scalar(select(LeaseRow).where(LeaseRow.name == name))
    if row is None or not row.holder:
        return None
    return row.holder if row.expires_at.timestamp() > time.time() else None


def hub_env(
    *,
    name: str,
    database_url: str,
    stack: LocalStack,
    influx_db: str,
    state: Path,
    api_port: int,
    extra: dict[str, str],
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRYGG_")}
    env.update(
        {
            "TRYGG_CLIENT_ID": name,
            "TRYGG_HUB_ID": name,
            "TRYGG_DATABASE_URL": database_url,
            "TRYGG_MQTT_PORT": str(stack.ports.mqtt),
            "TRYGG_INFLUX_URL": stack.influx_url,
            "TRYGG_INFLUX_DB": influx_db,
            "TRYGG_SPOOL_DIR": str(state / f"spool-{name}"),
            "TRYGG_API_PORT": str(api_port),
            "TRYGG_API_WEBHOOK_ALLOW": "127.0.0.1",
            "TRYGG_SHARE_GROUP": f"g-{influx_db}",
            **extra,
        }
    )
    return env


@dataclass
class Receiver:
    """An HTTP server that answers 200 to every POST and keeps each JSON body."""

    port: int = field(default_factory=free_port)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def seen(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.bodies)

    @contextmanager
    def running(self) -> Iterator[Receiver]:
        bodies, lock = self.bodies, self.lock

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with lock:
                    bodies.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
