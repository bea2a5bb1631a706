"""The model manifest and the SHA-256 gate, on the real shared models."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.vision.manifest import (
    DEFAULT_MANIFEST,
    ManifestError,
    ModelRefusedError,
    load_manifest,
    sha256_file,
    verify_model,
)
from tests.shared_data import vision_dir


def test_manifest_loads_and_describes_both_models() -> None:
    manifest = load_manifest(DEFAULT_MANIFEST)
    nano = manifest.entry("yolox_nano_coco_416")
    assert (nano.input.width, nano.input.height, nano.classes, nano.person_class) == (
        416,
        416,
        80,
        0,
    )
    small = manifest.entry("person_detector_192")
    assert (small.input.width, small.classes) == (192, 1)


@pytest.mark.parametrize("name", ["yolox_nano_coco_416", "person_detector_192"])
def test_manifest_hashes_match_the_real_files(name: str) -> None:
    entry = load_manifest().entry(name)
    path = vision_dir() / "models" / entry.file
    assert sha256_file(path) == entry.sha256
    assert verify_model(path, entry) == path.read_bytes()


def test_tampered_model_is_refused_with_both_hashes(tmp_path: Path) -> None:
    entry = load_manifest().entry("yolox_nano_coco_416")
    data = bytearray((vision_dir() / "models" / entry.file).read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / entry.file
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelRefusedError, match="differs from the manifest") as info:
        verify_model(bad, entry)
    assert entry.sha256 in str(info.value)
    assert sha256_file(bad) in str(info.value)


def test_missing_and_unknown_models_are_refused(tmp_path: Path) -> None:
    manifest = load_manifest()
    with pytest.raises(ModelRefusedError, match="cannot read"):
        verify_model(tmp_path / "nope.onnx", manifest.entry("person_detector_192"))
    with pytest.raises(ModelRefusedError, match="not in the manifest"):
        manifest.entry("resnet")
    with pytest.raises(ModelRefusedError, match="not listed"):
        manifest.entry_for_file(tmp_path / "other.onnx")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("version: 1\nmodels:\n  m: {file: m.onnx}\n", "models.m.format"),
        ("version: 2\nmodels: {}\n", "version"),
        ("version: 1\nmodels: {}\nextra: 1\n", "extra"),
    ],
)
def test_bad_manifest_names_file_and_key(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError, match=where) as info:
        load_manifest(path)
    assert str(path) in str(info.value)
