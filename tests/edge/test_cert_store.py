"""The pole's credential store on disk, against the real openssl: a renewed pair is used
only once complete and proven, and an interrupted renewal leaves the old pair in force."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.cert_store import CertStore, CertStoreError, Credentials
from trygg.openssl import new_key_and_request, read_certificate
from trygg.pki import Pki

NOW = datetime.now(UTC)
DEVICE = "pole-a"


@pytest.fixture
def cas(tmp_path: Path) -> tuple[Pki, Pki]:
    root = Pki(tmp_path / "ca")
    root.ensure_ca(now=NOW)
    issuing = Pki(tmp_path / "issuing")
    issuing.ensure_issuing(root, now=NOW)
    return root, issuing


def _store(tmp_path: Path, root: Pki) -> CertStore:
    key, crt = root.issue(tmp_path / "bundle", DEVICE, now=NOW)
    return CertStore(
        tmp_path / "state" / "certs",
        bundle=Credentials(crt, key, renewed=False),
        ca_file=root.ca_crt,
    )


def _sign(issuing: Pki, csr_text: str, tmp: Path) -> str:
    csr = tmp / "asked.csr"
    csr.write_text(csr_text)
    return issuing.sign_request(csr, common_name=DEVICE, now=NOW, lifetime=timedelta(days=365))


def test_a_proven_renewal_becomes_the_pair_in_use(tmp_path: Path, cas: tuple[Pki, Pki]) -> None:
    root, issuing = cas
    store = _store(tmp_path, root)
    assert store.current() == store.bundle
    pending = store.prepare(DEVICE)
    assert "PRIVATE KEY" not in pending.csr
    facts = store.accept(pending, _sign(issuing, pending.csr, tmp_path), ca_file=root.ca_crt)
    assert facts.subject == f"CN={DEVICE}"
    assert store.current() == store.bundle  # not in use before the broker took it
    used = store.promote(pending)
    assert store.current() == used
    assert used.renewed
    assert read_certificate(used.cert).serial == facts.serial
    assert oct(used.key.stat().st_mode & 0o777) == "0o600"


def test_a_power_cut_before_the_swap_leaves_the_old_pair(
    tmp_path: Path, cas: tuple[Pki, Pki]
) -> None:
    root, issuing = cas
    store = _store(tmp_path, root)
    first = store.prepare(DEVICE)
    store.accept(first, _sign(issuing, first.csr, tmp_path), ca_file=root.ca_crt)
    in_use = store.promote(first)
    second = store.prepare(DEVICE)
    store.accept(second, _sign(issuing, second.csr, tmp_path), ca_file=root.ca_crt)
    (store.folder / "current.new").symlink_to(second.folder)  # cut between link and rename
    restarted = CertStore(store.folder, bundle=store.bundle, ca_file=store.bundle_ca)
    assert restarted.current() == in_use
    restarted.clean()
    assert not second.folder.exists()
    assert restarted.current() == in_use


def test_a_certificate_for_another_key_or_from_another_ca_is_not_kept(
    tmp_path: Path, cas: tuple[Pki, Pki]
) -> None:
    root, issuing = cas
    store = _store(tmp_path, root)
    pending = store.prepare(DEVICE)
    new_key_and_request(tmp_path / "thief.key", tmp_path / "thief.csr", DEVICE)
    theirs = _sign(issuing, (tmp_path / "thief.csr").read_text(), tmp_path)
    with pytest.raises(CertStoreError, match="not for the key this pole made"):
        store.accept(pending, theirs, ca_file=root.ca_crt)
    assert not (pending.folder / "device.crt").exists()
    stranger = Pki(tmp_path / "stranger")
    stranger.ensure_ca(now=NOW)
    with pytest.raises(CertStoreError, match="unable to get local issuer"):
        store.accept(pending, _sign(issuing, pending.csr, tmp_path), ca_file=stranger.ca_crt)
    assert not (pending.folder / "device.crt").exists()
    assert store.current() == store.bundle


def test_old_generations_are_pruned(tmp_path: Path, cas: tuple[Pki, Pki]) -> None:
    root, issuing = cas
    store = _store(tmp_path, root)
    used = []
    for _ in range(3):
        pending = store.prepare(DEVICE)
        store.accept(pending, _sign(issuing, pending.csr, tmp_path), ca_file=root.ca_crt)
        used.append(store.promote(pending))
    kept = sorted(p.name for p in store.generations.iterdir())
    assert kept == sorted(u.cert.parent.name for u in used[1:])
    assert store.current() == used[-1]
