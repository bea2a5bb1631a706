"""A throwaway PostgreSQL server from Debian's binaries, for tests and benchmarks.

``initdb`` into a temporary folder, trust authentication on its own Unix socket and on
loopback only, a free port, durability switched off (the data is scratch), stopped and
deleted at the end. It never touches the machine's own PostgreSQL. PostgreSQL refuses to
run as root, so under root it runs as the ``postgres`` system user that Debian's
``postgresql`` package creates.
"""

from __future__ import annotations

import logging
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from trygg.stack import StackError, free_port

log = logging.getLogger(__name__)

SERVER_USER: Final = "postgres"
ADMIN_USER: Final = "postgres"  # the superuser initdb creates; trust needs no password
BIND_ATTEMPTS: Final = 3  # fresh free ports tried when another process took the chosen one
# Scratch data: losing it on a crash is fine, waiting for the disk on every commit is not.
SCRATCH_SETTINGS: Final = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def _version_key(bindir: Path) -> tuple[int, ...]:
    version = bindir.parent.name
    return tuple(int(part) for part in re.findall(r"\d+", version)) or (0,)


def find_bindir(versions: Path = Path("/usr/lib/postgresql")) -> Path:
    """The newest PostgreSQL server's binary folder (Debian keeps one per major version
    under /usr/lib/postgresql), else the folder of an ``initdb`` on PATH; a StackError
    naming the package to install when there is none."""
    candidates = [p.parent for p in versions.glob("*/bin/initdb") if p.is_file()]
    if candidates:
        return max(candidates, key=_version_key)
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    raise StackError(
        "PostgreSQL server binaries (initdb) not found: install the Debian package "
        "'postgresql' (apt-get install postgresql)"
    )


def _server_account() -> pwd.struct_passwd | None:
    """The unprivileged account to run as, or None when this process is not root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise StackError(
            f"PostgreSQL refuses to run as root and there is no '{SERVER_USER}' user: "
            "install the Debian package 'postgresql' (it creates the user)"
        ) from None


def _ready(data_dir: Path) -> bool:
    """True when the postmaster records itself ready (postmaster.pid's status line, which is
    what pg_ctl waits for)."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"


@dataclass
class PostgresServer:
    """One scratch server; ``start()`` returns once it accepts connections."""

    port: int = field(default_factory=free_port)
    durable: bool = False  # True keeps PostgreSQL's own fsync settings (for benchmarks)
    bindir: Path | None = None
    root: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self._root() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._root()

    @property
    def log_path(self) -> Path:
        return self._root() / "postgres.log"

    def _root(self) -> Path:
        if self.root is None:
            raise StackError("the PostgreSQL server has not been started")
        return self.root

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of ``database`` on this server, as the admin user over loopback."""
        return f"postgresql+psycopg://{ADMIN_USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, argv: list[str], account: pwd.struct_passwd | None) -> None:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            check=False,
            cwd=self._root(),
            env=self._env(account),
            user=None if account is None else account.pw_uid,
            group=None if account is None else account.pw_gid,
            extra_groups=None if account is None else [],
        )
        if done.returncode != 0:
            raise StackError(f"{argv[0]} failed ({done.returncode}): {done.stderr[-1500:]}")

    @staticmethod
    def _env(account: pwd.struct_passwd | None) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
        if account is not None:
            env |= {"HOME": account.pw_dir, "USER": account.pw_name}
        return env

    def start(self, *, timeout: float = 30.0) -> None:
        """initdb and start; a StackError (server log's tail included) when either fails."""
        bindir = self.bindir or find_bindir()
        account = _server_account()
        # In the system's temporary folder, not pytest's private 0700 one that the server
        # user could not enter.
        self.root = Path(tempfile.mkdtemp(prefix="trygg-pg-"))
        if account is not None:
            os.chown(self.root, account.pw_uid, account.pw_gid)
        try:
            self._run(
                [
                    str(bindir / "initdb"),
                    "--pgdata",
                    str(self.data_dir),
                    "--username",
                    ADMIN_USER,
                    "--auth",
                    "trust",
                    "--encoding",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                ],
                account,
            )
            for attempt in range(BIND_ATTEMPTS):
                try:
                    self._launch(bindir, account, timeout)
                    break
                except StackError as exc:
                    # The free port was taken between choosing it and binding it.
                    if "could not bind" not in str(exc) or attempt == BIND_ATTEMPTS - 1:
                        raise
                    self.port = free_port()
        except BaseException:
            self.stop()
            raise
        log.info("PostgreSQL ready on 127.0.0.1:%d (%s)", self.port, self.data_dir)

    def relaunch(self, *, timeout: float = 30.0) -> None:
        """Start the server again on its data folder (after it was killed)."""
        self._launch(self.bindir or find_bindir(), _server_account(), timeout)

    def _launch(self, bindir: Path, account: pwd.struct_passwd | None, timeout: float) -> None:
        argv = [
            str(bindir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-h",
            "127.0.0.1",
            "-k",
            str(self.socket_dir),
        ]
        for setting in ("max_connections=200",) + (() if self.durable else SCRATCH_SETTINGS):
            argv += ["-c", setting]
        self.log_path.write_bytes(b"")
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                argv,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self._root(),
                env=self._env(account),
                user=None if account is None else account.pw_uid,
                group=None if account is None else account.pw_gid,
                extra_groups=None if account is None else [],
            )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StackError(
                    f"postgres exited with {self.process.returncode}:\n{self._log_tail()}"
                )
            if _ready(self.data_dir):
                return
            time.sleep(0.05)
        raise StackError(f"postgres was not ready within {timeout}s:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-1500:]
        except OSError:
            return ""

    def stop(self, *, timeout: float = 20.0) -> None:
        """Fast shutdown (SIGINT: sessions are ended), SIGKILL past ``timeout``; the folder
        is deleted."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(10)
            self.process = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True, slots=True)
class ScratchDatabases:
    """Creates and drops databases on a server, through its admin URL (``postgresql://``
    or SQLAlchemy's ``postgresql+psycopg://``)."""

    admin_url: str

    def _conninfo(self) -> str:
        return self.admin_url.replace("postgresql+psycopg://", "postgresql://", 1)

    def url(self, name: str) -> str:
        """SQLAlchemy URL of database ``name`` on the same server with the same user."""
        base = self.admin_url.rsplit("/", 1)[0]
        if base.startswith("postgresql://"):
            base = "postgresql+psycopg://" + base.removeprefix("postgresql://")
        return f"{base}/{name}"

    def _execute(self, statement: str, name: str) -> None:
        import psycopg
        from psycopg import sql

        try:
            with psycopg.connect(self._conninfo(), autocommit=True, connect_timeout=5) as admin:
                admin.execute(sql.SQL(statement).format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise StackError(f"PostgreSQL at {self._safe_url()}: {exc}") from exc

    def _safe_url(self) -> str:
        """The admin URL without its password, for messages."""
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", self.admin_url)

    def create(self, name: str) -> str:
        """A new, empty database ``name`` (an older one of that name is dropped first);
        returns its SQLAlchemy URL."""
        self.drop(name)
        self._execute("CREATE DATABASE {}", name)
        return self.url(name)

    def drop(self, name: str) -> None:
        self._execute("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
