"""The release format: signatures, hashes, paths and limits (pure, no services)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trygg import release as r
from trygg.cli import main as trygg_main

NOW_MS = 1_790_000_000_000


def _bundle(tmp: Path, key: Ed25519PrivateKey, *files: tuple[r.Role, str, bytes]) -> r.Bundle:
    sources = []
    for role, name, data in files:
        path = tmp / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        sources.append(r.Source(path, role))
    return r.build_bundle(
        tmp / "bundle", private_key=key, version="1.2.3", sources=sources, created_ms=NOW_MS
    )


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return r.generate_key()


@pytest.fixture
def bundle(tmp_path: Path, key: Ed25519PrivateKey) -> r.Bundle:
    return _bundle(
        tmp_path,
        key,
        ("wheel", "trygg-1.0-py3-none-any.whl", b"PK wheel bytes"),
        ("config", "agent.yaml", b"id: pole-1\n"),
        ("model", "crowd.onnx", b"\x00onnx" * 100),
    )


def test_a_built_bundle_loads_and_is_named_by_its_manifest(
    bundle: r.Bundle, key: Ed25519PrivateKey
) -> None:
    loaded = r.load_bundle(bundle.folder, [key.public_key()])
    assert loaded.id == r.release_id((bundle.folder / r.MANIFEST).read_bytes())
    assert [f.path for f in loaded.manifest.files] == [
        "wheels/trygg-1.0-py3-none-any.whl",
        "config/agent.yaml",
        "models/crowd.onnx",
    ]
    for entry in loaded.manifest.files:
        assert (bundle.folder / r.FILES / entry.sha256).stat().st_size == entry.size
    assert len(base64.b64decode((bundle.folder / r.SIGNATURE).read_bytes())) == 64


def test_a_tampered_manifest_is_refused(bundle: r.Bundle, key: Ed25519PrivateKey) -> None:
    data = json.loads(bundle.manifest_bytes)
    data["version"] = "9.9.9"
    (bundle.folder / r.MANIFEST).write_bytes(json.dumps(data).encode())
    with pytest.raises(r.ReleaseError, match="signature does not match"):
        r.load_bundle(bundle.folder, [key.public_key()])
    one_bit = bytearray(bundle.manifest_bytes)
    one_bit[10] ^= 1
    with pytest.raises(r.ReleaseError, match="signature"):
        r.verify(bytes(one_bit), bundle.signature, [key.public_key()])


def test_a_tampered_file_is_refused(bundle: r.Bundle, key: Ed25519PrivateKey) -> None:
    model = bundle.manifest.by_role("model")[0]
    path = bundle.file(model)
    data = bytearray(path.read_bytes())
    data[3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(r.ReleaseError, match=r"models/crowd\.onnx: SHA-256 differs"):
        r.load_bundle(bundle.folder, [key.public_key()])


def test_a_missing_or_longer_file_is_refused(bundle: r.Bundle, key: Ed25519PrivateKey) -> None:
    config = bundle.manifest.by_role("config")[0]
    bundle.file(config).write_bytes(b"id: pole-1\nextra: 1\n")
    with pytest.raises(r.ReleaseError, match="more than the 11 bytes"):
        r.load_bundle(bundle.folder, [key.public_key()])
    bundle.file(config).unlink()
    with pytest.raises(r.ReleaseError, match=r"config/agent\.yaml"):
        r.load_bundle(bundle.folder, [key.public_key()])


def test_a_wrong_key_or_no_key_is_refused(bundle: r.Bundle) -> None:
    other = r.generate_key().public_key()
    with pytest.raises(r.ReleaseError, match="does not match any"):
        r.verify(bundle.manifest_bytes, bundle.signature, [other])
    with pytest.raises(r.ReleaseError, match="no release public key"):
        r.verify(bundle.manifest_bytes, bundle.signature, [])


def test_two_keys_during_a_key_rotation(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    new = r.generate_key()
    old_release = _bundle(tmp_path / "old", key, ("config", "a.yaml", b"a: 1\n"))
    new_release = _bundle(tmp_path / "new", new, ("config", "a.yaml", b"a: 2\n"))
    both = [key.public_key(), new.public_key()]
    assert r.load_bundle(old_release.folder, both).manifest.version == "1.2.3"
    assert r.load_bundle(new_release.folder, both).id == new_release.id
    with pytest.raises(r.ReleaseError):
        r.load_bundle(new_release.folder, [key.public_key()])


def test_signature_is_accepted_raw_or_base64_and_refused_otherwise(bundle: r.Bundle) -> None:
    assert r.decode_signature(bundle.signature) == bundle.signature
    assert r.decode_signature(r.encode_signature(bundle.signature)) == bundle.signature
    for bad in (b"not base64!!", base64.b64encode(b"x" * 63), b"A" * 5000):
        with pytest.raises(r.ReleaseError):
            r.decode_signature(bad)


def _manifest(**file: object) -> bytes:
    entry = {"path": "config/a.yaml", "sha256": "0" * 64, "size": 1, "role": "config"} | file
    return json.dumps({"v": 1, "version": "1", "created": NOW_MS, "files": [entry]}).encode()


@pytest.mark.parametrize(
    "path",
    [
        "../x",
        "config/../../etc/passwd",
        "/etc/passwd",
        "config/./a",
        "config//a",
        "config\\a",
        "config/.hidden",
        "config/a b",
        "config/a/b/c/d",
        "config",
        "",
    ],
)
def test_unsafe_paths_are_refused(path: str) -> None:
    with pytest.raises(r.ReleaseError, match="invalid manifest"):
        r.parse_manifest(_manifest(path=path))
    with pytest.raises(r.ReleaseError):
        r.safe_path(path) if path != "config" else r.parse_manifest(_manifest(path=path))


@pytest.mark.parametrize(
    ("file", "reason"),
    [
        ({"role": "firmware"}, "role"),
        ({"role": "model"}, "models/"),
        ({"role": "wheel", "path": "wheels/a.tar.gz"}, ".whl"),
        ({"size": r.MAX_FILE_BYTES + 1}, "size"),
        ({"size": -1}, "size"),
        ({"sha256": "A" * 64}, "sha256"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_entries_are_refused_with_a_reason(file: dict[str, object], reason: str) -> None:
    with pytest.raises(r.ReleaseError, match=reason):
        r.parse_manifest(_manifest(**file))


def test_oversize_manifests_and_totals_are_refused() -> None:
    with pytest.raises(r.ReleaseError, match="larger than"):
        r.parse_manifest(b" " * (r.MAX_MANIFEST_BYTES + 1))
    many = [
        {"path": f"models/m{i}.onnx", "sha256": "0" * 64, "size": r.MAX_FILE_BYTES, "role": "model"}
        for i in range(r.MAX_TOTAL_BYTES // r.MAX_FILE_BYTES + 1)
    ]
    doc = {"v": 1, "version": "1", "created": NOW_MS, "files": many}
    with pytest.raises(r.ReleaseError, match="add up to more"):
        r.parse_manifest(json.dumps(doc).encode())
    doc["files"] = many[:1] * 2
    with pytest.raises(r.ReleaseError, match="twice"):
        r.parse_manifest(json.dumps(doc).encode())
    for junk in (b"", b"[]", b"{", b'{"v": 2}'):
        with pytest.raises(r.ReleaseError, match="invalid manifest"):
            r.parse_manifest(junk)


def test_a_file_check_refuses_bytes_beyond_the_listed_size_at_once() -> None:
    entry = r.FileEntry(path="models/m.onnx", sha256="0" * 64, size=4, role="model")
    check = r.FileCheck(entry)
    check.update(b"abcd")
    with pytest.raises(r.ReleaseError, match="more than the 4 bytes"):
        check.update(b"e")


def test_keys_round_trip_and_are_never_overwritten(tmp_path: Path) -> None:
    priv, pub = r.save_keypair(tmp_path, r.generate_key())
    assert priv.stat().st_mode & 0o777 == 0o600
    key = r.load_private_key(priv)
    assert r.public_pem(key.public_key()) == r.public_pem(r.load_public_key(pub))
    with pytest.raises(r.ReleaseError, match="never overwritten"):
        r.save_keypair(tmp_path, r.generate_key())
    with pytest.raises(r.ReleaseError, match="not a PEM public key"):
        r.load_public_key(priv)
    (tmp_path / "junk.pem").write_text("hello")
    with pytest.raises(r.ReleaseError):
        r.load_private_key(tmp_path / "junk.pem")


def test_the_cli_builds_and_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert trygg_main(["release", "keygen", "-o", str(tmp_path / "k")]) == 0
    assert "keep it offline" in capsys.readouterr().out
    (tmp_path / "agent.yaml").write_text("id: p\n")
    out = tmp_path / "b"
    args = ["--key", str(tmp_path / "k" / "release.key"), "--version", "2", "-o", str(out)]
    assert trygg_main(["release", "build", *args, "--config", str(tmp_path / "agent.yaml")]) == 0
    rid = capsys.readouterr().out.strip()
    assert rid == r.release_id((out / r.MANIFEST).read_bytes())
    pub = str(tmp_path / "k" / "release.pub")
    assert trygg_main(["release", "verify", str(out), "--pub", pub]) == 0
    assert rid in capsys.readouterr().out
    r.save_keypair(tmp_path / "other", r.generate_key())
    other = str(tmp_path / "other" / "release.pub")
    assert trygg_main(["release", "verify", str(out), "--pub", other]) == 1
    assert "does not match" in capsys.readouterr().err
    assert trygg_main(["release", "build", *args, "--config", str(tmp_path / "agent.yaml")]) == 1
    assert "not empty" in capsys.readouterr().err


def test_an_area_can_add_its_own_release_action(capsys: pytest.CaptureFixture[str]) -> None:
    from trygg import release_cli
    from trygg.cli import build_parser

    parser = build_parser()
    extra = release_cli.actions().add_parser("hello")
    extra.set_defaults(release_func=lambda _args: print("hello from an area") or 0)
    args = parser.parse_args(["release", "hello"])
    assert args.func(args) == 0
    assert "hello from an area" in capsys.readouterr().out
