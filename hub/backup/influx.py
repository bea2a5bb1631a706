"""InfluxDB 1.x in a backup: ``influxd backup -portable`` and ``influxd restore -portable``
through the server's RPC address (the hub's HTTP address answers whether the database
exists, and drops it for a forced restore). InfluxDB 2.x and 3.x have their own tools
(docs/operations.md).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx

from hub.backup.errors import BackupError

FOLDER = "influx"


@dataclass(frozen=True, slots=True)
class Influx:
    url: str  # HTTP, as the hub uses it
    rpc: str  # host:port of influxd's backup/restore service
    db: str
    username: str | None = None
    password: str | None = None
    token: str | None = None

    def _query(self, q: str, *, post: bool) -> dict[str, object]:
        headers = {"Authorization": f"Token {self.token}"} if self.token else {}
        auth = (self.username, self.password or "") if self.username else None
        try:
            with httpx.Client(timeout=30.0, headers=headers, auth=auth) as client:
                if post:
                    resp = client.post(f"{self.url}/query", data={"q": q})
                else:
                    resp = client.get(f"{self.url}/query", params={"q": q})
        except httpx.HTTPError as exc:
            raise BackupError(f"InfluxDB at {self.url} did not answer: {exc}") from exc
        if resp.status_code != 200:
            raise BackupError(f"InfluxDB refused {q!r}: {resp.status_code} {resp.text[:300]}")
        body: dict[str, object] = resp.json()
        return body

    def exists(self) -> bool:
        body = self._query("SHOW DATABASES", post=False)
        text = json.dumps(body)
        names: set[str] = set()
        for result in body.get("results", []):  # type: ignore[attr-defined]
            for series in result.get("series", []):
                names.update(str(v[0]) for v in series.get("values", []))
        if "error" in text and not names:
            raise BackupError(f"InfluxDB could not list its databases: {text[:300]}")
        return self.db in names

    def has_data(self) -> bool:
        """True when the database exists and holds any measurement."""
        if not self.exists():
            return False
        body = self._query(f'SHOW MEASUREMENTS ON "{self.db}" LIMIT 1', post=False)
        return any(r.get("series") for r in body.get("results", []))  # type: ignore[attr-defined]

    def drop(self) -> None:
        self._query(f'DROP DATABASE "{self.db}"', post=True)


def _influxd() -> str:
    found = shutil.which("influxd") or shutil.which("influxd", path="/usr/sbin:/sbin")
    if found is None:
        raise BackupError("influxd is not installed (apt-get install influxdb)")
    return found


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{' '.join(argv[:3])} failed: {(done.stderr or done.stdout)[-2000:]}")


def backup(influx: Influx, root: Path) -> None:
    dest = root / FOLDER
    dest.mkdir(parents=True, exist_ok=True)
    _run(
        [_influxd(), "backup", "-portable", "-host", influx.rpc, "-database", influx.db, str(dest)]
    )
    if not any(dest.iterdir()):
        raise BackupError("influxd backup wrote nothing")


def restore(influx: Influx, root: Path) -> None:
    """Restore the database, dropping what is there (the caller checked that it is empty
    unless ``force``)."""
    if influx.exists():
        influx.drop()
    _run(
        [
            _influxd(),
            "restore",
            "-portable",
            "-host",
            influx.rpc,
            "-db",
            influx.db,
            str(root / FOLDER),
        ]
    )
