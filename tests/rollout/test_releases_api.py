"""Publishing releases through the API, on SQLite and PostgreSQL: verified against the hub's
release keys before anything is stored; every bad upload is a clear 4xx that stores nothing."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.db import AuditEntry, Release
from tests.rollout.conftest import Api, Keys, build, make_keys, tar_of
from trygg import release as r

pytestmark = pytest.mark.integration


def _stored(api: Api) -> tuple[int, list[str]]:
    with api.sessions() as s:
        rows = s.scalar(select(func.count()).select_from(Release)) or 0
    files = api.config.dir / "files"
    return rows, sorted(p.name for p in files.iterdir()) if files.is_dir() else []


def test_publish_stores_content_addressed_and_lists(api: Api, keys: Keys, tmp_path: Path) -> None:
    bundle = build(tmp_path / "b1", keys.private, version="2026.12.1", payload=b"one")
    resp = api.publish(tar_of(bundle.folder))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["id"] == bundle.id == r.release_id((bundle.folder / "manifest.json").read_bytes())
    assert body["version"] == "2026.12.1"
    assert body["published_by"] == "ada"
    assert body["size"] == sum(f.size for f in bundle.manifest.files)
    assert {f["role"] for f in body["files"]} == {"config", "model"}
    # each file under its own hash, and the manifest byte for byte
    for entry in bundle.manifest.files:
        stored = api.config.dir / "files" / entry.sha256
        assert r.sha256_file(stored) == (entry.sha256, entry.size)
    manifest = api.config.dir / bundle.id / "manifest.json"
    assert manifest.read_bytes() == bundle.manifest_bytes
    assert not list((api.config.dir / "tmp").iterdir())  # no scratch left behind

    again = api.publish(tar_of(bundle.folder, prefix="bundle/", gzip=False))
    assert again.status_code == 200
    assert again.json()["id"] == bundle.id

    listed = api.client.get("/api/v1/releases", headers=api.h(api.operator))
    assert [x["id"] for x in listed.json()] == [bundle.id]
    one = api.client.get(f"/api/v1/releases/{bundle.id}", headers=api.h(api.operator))
    assert one.json()["notes"] == "test release 2026.12.1"
    missing = api.client.get(f"/api/v1/releases/{'0' * 64}", headers=api.h(api.operator))
    assert missing.status_code == 404
    with api.sessions() as s:
        actions = s.scalars(select(AuditEntry.action)).all()
    assert actions.count("release.publish") == 1


def test_publishing_again_puts_back_stored_files_lost_or_damaged(
    api: Api, keys: Keys, tmp_path: Path
) -> None:
    bundle = build(tmp_path / "b", keys.private, version="2026.12.3", payload=b"three")
    body = tar_of(bundle.folder)
    assert api.publish(body).status_code == 201
    model = next(e for e in bundle.manifest.files if e.role == "model")
    config = next(e for e in bundle.manifest.files if e.role == "config")
    files = api.config.dir / "files"
    damaged = bytearray((files / model.sha256).read_bytes())
    damaged[0] ^= 0xFF
    (files / model.sha256).write_bytes(bytes(damaged))
    (files / config.sha256).unlink()
    sig = api.config.dir / bundle.id / r.SIGNATURE
    sig.write_bytes(r.encode_signature(r.sign(bundle.manifest_bytes, r.generate_key())))
    (api.config.dir / bundle.id / r.MANIFEST).write_bytes(b"{}")

    again = api.publish(body)
    assert again.status_code == 200, again.text
    for entry in bundle.manifest.files:
        r.check_file(files / entry.sha256, entry)  # raises if still wrong
    manifest = (api.config.dir / bundle.id / r.MANIFEST).read_bytes()
    assert manifest == bundle.manifest_bytes
    assert r.verify(manifest, sig.read_bytes(), [keys.private.public_key()]) == bundle.manifest
    assert not list((api.config.dir / "tmp").iterdir())
    with api.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Release)) == 1
        actions = s.scalars(select(AuditEntry.action)).all()
    assert actions.count("release.publish") == 1


def test_only_admins_publish_and_staff_list(api: Api, keys: Keys, tmp_path: Path) -> None:
    body = tar_of(build(tmp_path / "b", keys.private, version="1", payload=b"x").folder)
    assert api.publish(body, api.operator).status_code == 403
    assert api.publish(body, api.crew).status_code == 403
    assert api.client.post("/api/v1/releases", content=body).status_code == 401
    assert api.client.get("/api/v1/releases", headers=api.h(api.crew)).status_code == 403
    assert _stored(api) == (0, [])


def _tar(members: dict[str, bytes], *, links: tuple[tuple[str, str], ...] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


def _members(bundle: r.Bundle) -> dict[str, bytes]:
    out = {"manifest.json": bundle.manifest_bytes,
           "manifest.sig": (bundle.folder / "manifest.sig").read_bytes()}  # fmt: skip
    for entry in bundle.manifest.files:
        out[f"files/{entry.sha256}"] = bundle.file(entry).read_bytes()
    return out


def test_bad_uploads_are_refused_and_store_nothing(api: Api, keys: Keys, tmp_path: Path) -> None:
    good = build(tmp_path / "good", keys.private, version="1", payload=b"good")
    members = _members(good)
    model = next(e for e in good.manifest.files if e.role == "model")
    other = make_keys(tmp_path / "other")
    foreign = build(tmp_path / "foreign", other.private, version="1", payload=b"good")

    tampered = dict(members)
    tampered[f"files/{model.sha256}"] = members[f"files/{model.sha256}"][:-1] + b"!"
    short = dict(members)
    short[f"files/{model.sha256}"] = members[f"files/{model.sha256}"][:-1]
    missing = {k: v for k, v in members.items() if k != f"files/{model.sha256}"}
    extra = {**members, f"files/{'e' * 64}": b"stowaway"}
    forged_manifest = {**members, "manifest.json": members["manifest.json"].replace(b'"1"', b'"2"')}
    cases = {
        "signature does not match": _tar(_members(foreign)),
        "SHA-256 differs": _tar(tampered),
        "bytes, the manifest lists": _tar(short),
        "is missing": _tar(missing),
        "not listed in the manifest": _tar(extra),
        "signature does not match any": _tar(forged_manifest),
        "no manifest.sig": _tar({k: v for k, v in members.items() if k != "manifest.sig"}),
        "no manifest.json": _tar({k: v for k, v in members.items() if k != "manifest.json"}),
        "not part of a release bundle": _tar({**members, "../../etc/passwd": b"x"}),
        "only regular files": _tar(members, links=(("files/" + "f" * 64, "/etc/shadow"),)),
        "not a readable tar": b"this is not a tar at all",
        "empty body": b"",
        "one top folder": _tar(
            {"a/manifest.json": members["manifest.json"], "b/manifest.sig": members["manifest.sig"]}
        ),
    }
    for why, body in cases.items():
        resp = api.publish(body)
        assert resp.status_code == 400, (why, resp.text)
        assert why in resp.json()["detail"], (why, resp.json())
    assert _stored(api) == (0, [])


def test_without_a_release_key_publishing_is_refused(api: Api, keys: Keys, tmp_path: Path) -> None:
    body = tar_of(build(tmp_path / "b", keys.private, version="1", payload=b"x").folder)
    keys.public_file.write_text("not a key\n")
    resp = api.publish(body)
    assert resp.status_code == 409
    assert "release keys are unusable" in resp.json()["detail"]
    assert _stored(api) == (0, [])
