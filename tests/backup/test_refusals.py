"""A restore refuses clearly and changes nothing: wrong passphrase, an altered or corrupt
backup, a version it does not know, a non-empty target without --force. Real SQLite
databases and files; the PKI and configuration are sealed with the passphrase."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.backup import manifest, run, secrets
from hub.backup.errors import BackupError
from hub.backup.run import Sources
from hub.db import Device, open_database
from hub.devices import register

PHRASE = b"correct horse battery staple"
NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)


def fingerprint(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its content hash: what "nothing changed" compares."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def devices(url: str) -> list[str]:
    sessions = open_database(url, migrate=False)
    with sessions() as s:
        out = sorted(s.scalars(select(Device.id)))
    sessions.kw["bind"].dispose()
    return out


@pytest.fixture
def made(tmp_path: Path) -> tuple[Path, Sources]:
    """A backup of a hub with two devices, a PKI folder and a configuration file."""
    home = tmp_path / "server"
    url = f"sqlite:///{home}/hub.sqlite"
    home.mkdir()
    sessions = open_database(url)
    register(sessions, [("pole-1", "centrum"), ("pole-2", "centrum")])
    sessions.kw["bind"].dispose()
    pki = home / "pki"
    (pki / "private").mkdir(parents=True)
    (pki / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nfleet\n")
    (pki / "private" / "ca.key").write_text("-----BEGIN PRIVATE KEY-----\nsecret\n")
    env = home / "hub.env"
    env.write_text("TRYGG_DATABASE_URL=postgresql://trygg:hunter2@db/trygg\n")
    sources = Sources(database_url=url, influx=None, paths=(pki, env))
    dest = tmp_path / "backup"
    run.take(sources, dest, PHRASE, NOW)
    return dest, sources


def wipe(sources: Sources) -> None:
    for p in sorted(Path(sources.database_url.removeprefix("sqlite:///")).parent.rglob("*")):
        if p.is_file():
            p.unlink()


def test_round_trip_restores_database_pki_and_configuration(
    made: tuple[Path, Sources],
) -> None:
    dest, sources = made
    home = sources.paths[1].parent
    before = fingerprint(home / "pki") | {"hub.env": fingerprint(home)["hub.env"]}
    assert b"secret" not in (dest / run.SECRETS_FILE).read_bytes()
    assert b"hunter2" not in (dest / run.SECRETS_FILE).read_bytes()
    wipe(sources)
    kept = fingerprint(dest)
    run.restore(dest, sources, PHRASE, force=False)
    assert fingerprint(dest) == kept  # reading a backup leaves it as it was
    assert devices(sources.database_url) == ["pole-1", "pole-2"]
    assert fingerprint(home / "pki") | {"hub.env": fingerprint(home)["hub.env"]} == before


def refused(dest: Path, sources: Sources, phrase: bytes, match: str, *, force: bool) -> None:
    home = Path(sources.database_url.removeprefix("sqlite:///")).parent
    before = fingerprint(home)
    with pytest.raises(BackupError, match=match):
        run.restore(dest, sources, phrase, force=force)
    assert fingerprint(home) == before


def test_wrong_passphrase(made: tuple[Path, Sources]) -> None:
    dest, sources = made
    wipe(sources)
    refused(dest, sources, b"not the passphrase at all", "wrong passphrase", force=True)


def test_a_changed_file_is_named(made: tuple[Path, Sources]) -> None:
    dest, sources = made
    db = dest / "sql" / "hub.sqlite"
    raw = bytearray(db.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    db.write_bytes(bytes(raw))
    refused(dest, sources, PHRASE, "changed sql/hub.sqlite", force=True)


def test_missing_and_added_files_are_named(made: tuple[Path, Sources]) -> None:
    dest, sources = made
    (dest / run.SECRETS_FILE).unlink()
    (dest / "extra.sql").write_text("DROP TABLE devices;")
    refused(
        dest, sources, PHRASE, "missing secrets.bin; not in the manifest: extra.sql", force=True
    )


def test_an_edited_manifest_does_not_verify(made: tuple[Path, Sources]) -> None:
    dest, sources = made
    path = dest / manifest.NAME
    doc = json.loads(path.read_text())
    doc["manifest"]["files"][0]["sha256"] = "0" * 64
    path.write_text(json.dumps(doc))
    refused(dest, sources, PHRASE, "does not verify", force=True)


def resign(dest: Path, **changes: object) -> None:
    """Alter the manifest and sign it again, as a backup from another version would be."""
    raw = (dest / manifest.NAME).read_bytes()
    old = manifest.peek(raw)
    keys = secrets.derive(PHRASE, bytes.fromhex(old.salt))
    (dest / manifest.NAME).write_bytes(manifest.sign(replace(old, **changes), keys.mac))  # type: ignore[arg-type]


def test_a_schema_this_version_does_not_know(made: tuple[Path, Sources]) -> None:
    dest, sources = made
    resign(dest, sql_revisions=("0099_from_the_future",), trygg_version="9.0.0")
    refused(dest, sources, PHRASE, "0099_from_the_future.*Trygg 9.0.0", force=True)


def test_another_backup_format(made: tuple[Path, Sources]) -> None:
    dest, sources = made
    resign(dest, format=manifest.FORMAT + 1)
    refused(dest, sources, PHRASE, "backup format", force=True)


def test_another_database_kind(made: tuple[Path, Sources]) -> None:
    dest, sources = made
    resign(dest, sql_dialect="postgresql")
    refused(dest, sources, PHRASE, "holds a postgresql database", force=True)


def test_not_a_backup(tmp_path: Path, made: tuple[Path, Sources]) -> None:
    _dest, sources = made
    refused(tmp_path / "nothing", sources, PHRASE, "is not a backup", force=True)


def test_a_non_empty_target_needs_force(made: tuple[Path, Sources]) -> None:
    dest, sources = made
    home = sources.paths[1].parent
    sessions = open_database(sources.database_url)
    register(sessions, [("pole-3", "centrum")])
    sessions.kw["bind"].dispose()
    (home / "hub.env").write_text("changed since the backup\n")
    refused(dest, sources, PHRASE, "SQL database has tables.*hub.env exists.*--force", force=False)
    run.restore(dest, sources, PHRASE, force=True)
    assert devices(sources.database_url) == ["pole-1", "pole-2"]
    assert (home / "hub.env").read_text().startswith("TRYGG_DATABASE_URL=")


def test_sealed_secrets_refuse_a_flipped_byte() -> None:
    keys = secrets.derive(PHRASE, secrets.new_salt())
    blob = bytearray(secrets.seal(b"ca key", keys))
    assert secrets.unseal(bytes(blob), keys) == b"ca key"
    blob[-1] ^= 1
    with pytest.raises(BackupError, match="do not decrypt"):
        secrets.unseal(bytes(blob), keys)


def test_passphrase_comes_from_a_file_or_the_environment(tmp_path: Path) -> None:
    file = tmp_path / "phrase"
    file.write_text("a long enough passphrase\nignored\n")
    assert secrets.passphrase(file, {}) == b"a long enough passphrase"
    assert secrets.passphrase(None, {secrets.ENV: "from the environment"}) == (
        b"from the environment"
    )
    with pytest.raises(BackupError, match="no passphrase"):
        secrets.passphrase(None, {})
    with pytest.raises(BackupError, match="shorter"):
        secrets.passphrase(None, {secrets.ENV: "short"})


def test_a_failed_backup_leaves_no_folder(tmp_path: Path) -> None:
    sources = Sources(
        database_url=f"sqlite:///{tmp_path}/absent.sqlite",
        influx=None,
        paths=(tmp_path / "no-such-pki",),
    )
    with pytest.raises(BackupError, match="does not exist"):
        run.take(sources, tmp_path / "b", PHRASE, NOW)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_command_says_it_refused(made: tuple[Path, Sources], tmp_path: Path) -> None:
    dest, sources = made
    phrase = tmp_path / "phrase"
    phrase.write_text("not the passphrase at all\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRYGG_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "trygg.cli",
            "restore",
            "--from",
            str(dest),
            "--passphrase-file",
            str(phrase),
        ],
        env={**env, "TRYGG_DATABASE_URL": sources.database_url},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("trygg restore: refused, nothing changed: ")
    assert "wrong passphrase" in done.stderr
    assert "not the passphrase" not in done.stderr + done.stdout
