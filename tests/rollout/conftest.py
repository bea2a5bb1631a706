"""Fixtures for releases and rollouts: a release key, bundles built with it, and the hub's
API on SQLite and PostgreSQL with a release folder of its own."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session, sessionmaker

from hub import auth
from hub.api import create_app
from hub.db import Device, open_database
from hub.releases.config import ReleaseConfig
from tests.api.conftest import ROOMY, T0, serve
from trygg import release as r
from trygg.clock import FakeClock

FLEET = {"pole-c1": "centrum", "pole-c2": "centrum", "pole-n1": "norr", "pole-n2": "norr",
         "pole-s1": "syd", "pole-s2": "syd"}  # fmt: skip


@dataclass(frozen=True)
class Keys:
    private: Ed25519PrivateKey
    public_file: Path


def make_keys(folder: Path) -> Keys:
    key = r.generate_key()
    _, pub = r.save_keypair(folder, key)
    return Keys(key, pub)


def build(folder: Path, key: Ed25519PrivateKey, *, version: str, payload: bytes) -> r.Bundle:
    """A signed bundle with one config file and one model."""
    src = folder.with_name(folder.name + "-src")
    src.mkdir(parents=True)
    (src / "agent.yaml").write_bytes(b"interval_s: 60\n" + payload)
    (src / "crowd.onnx").write_bytes(b"\x08\x01" + payload * 50)
    return r.build_bundle(
        folder,
        private_key=key,
        version=version,
        sources=[r.Source(src / "agent.yaml", "config"), r.Source(src / "crowd.onnx", "model")],
        created_ms=1_796_000_000_000,
        notes=f"test release {version}",
    )


def tar_of(bundle: Path, *, prefix: str = "", gzip: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gzip else "w") as tar:
        for path in sorted(bundle.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=prefix + path.relative_to(bundle).as_posix())
    return buf.getvalue()


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return make_keys(tmp_path / "keys")


@dataclass
class Api:
    sessions: sessionmaker[Session]
    clock: FakeClock
    client: httpx.Client
    config: ReleaseConfig
    admin: str
    operator: str
    crew: str

    def h(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def publish(self, body: bytes, token: str | None = None) -> httpx.Response:
        headers = {**self.h(token or self.admin), "Content-Type": "application/gzip"}
        return self.client.post("/api/v1/releases", content=body, headers=headers)


@pytest.fixture
def api(sql_url: str, tmp_path: Path, keys: Keys) -> Iterator[Api]:
    sessions = open_database(sql_url)
    clock = FakeClock(T0)
    config = ReleaseConfig(dir=tmp_path / "releases", keys=(keys.public_file,))
    app = create_app(sessions=sessions, clock=clock, api_config=ROOMY, release_config=config)
    now = clock.now()
    with sessions.begin() as s:
        for device, site in FLEET.items():
            s.add(Device(id=device, site=site, above={"seqs": []}))
    tokens = {
        "admin": auth.bootstrap_token(sessions, name="ada", role="admin", now=now),
        "operator": auth.bootstrap_token(sessions, name="olle", role="operator", now=now),
        "crew": auth.bootstrap_token(sessions, name="anna", role="crew", area="centrum", now=now),
    }
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield Api(sessions, clock, client, config, **tokens)
    sessions.kw["bind"].dispose()
