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


def _rolled(tmp_path: Path, root: Pki) -> tuple[Pki, Pki]:
    """The next fleet CA, cross-signed by ``root``, and the next issuing CA under it, as
    ``ca-rollover start`` makes them."""
    upcoming = root.next
    upcoming.ensure_ca(now=NOW, name="Trygg fleet CA next")
    issuing = Pki(tmp_path / "issuing-next")
    issuing.ensure_issuing(upcoming, now=NOW)
    (issuing.folder / "chain.crt").write_text(root.cross_sign(upcoming, now=NOW))
    return upcoming, issuing


def test_offered_trust_is_kept_only_when_the_verified_chain_vouches_for_it(
    tmp_path: Path, cas: tuple[Pki, Pki]
) -> None:
    root, _ = cas
    store = _store(tmp_path, root)
    upcoming, issuing = _rolled(tmp_path, root)
    cross = (issuing.folder / "chain.crt").read_text()
    both = root.ca_crt.read_text() + upcoming.ca_crt.read_text()
    pending = store.prepare(DEVICE)
    store.accept(pending, _sign(issuing, pending.csr, tmp_path), ca_file=store.trust_file())
    assert store.offered_trust(pending, root.ca_crt.read_text()) is None  # nothing new
    assert store.offered_trust(pending, both) == both
    store.keep_trust(both)
    assert store.trust_file().read_text() == both
    # later, the new CA alone: already trusted, and the chain verifies with it
    assert store.offered_trust(pending, upcoming.ca_crt.read_text()) == upcoming.ca_crt.read_text()

    # a CA nobody vouched for is refused, and so is a set that would refuse the certificate
    stranger = Pki(tmp_path / "stranger")
    stranger.ensure_ca(now=NOW, name="Trygg fleet CA next")  # the same name, another key
    with pytest.raises(CertStoreError, match="neither trusted nor vouched for"):
        store.offered_trust(pending, root.ca_crt.read_text() + stranger.ca_crt.read_text())
    # after the rollover's end the chain has no cross-certificate: the old CA alone would
    # refuse it, so a hub offering only that is not followed
    (issuing.folder / "chain.crt").unlink()
    later = store.prepare(DEVICE)
    store.accept(later, _sign(issuing, later.csr, tmp_path), ca_file=store.trust_file())
    with pytest.raises(CertStoreError, match="refuses the new certificate"):
        store.offered_trust(later, root.ca_crt.read_text())
    with pytest.raises(CertStoreError, match="unusable"):
        store.offered_trust(pending, cross)  # not a root: signed by another CA
    with pytest.raises(CertStoreError, match="no certificate"):
        store.offered_trust(pending, "garbage")
    assert store.trust_file().read_text() == both  # nothing refused was kept
