"""The crowd pipeline loads a model a release lists only if it is the release's, byte for
byte: the real ONNX model, a real installed release, and an agent that keeps running."""

from __future__ import annotations

import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge import ab
from edge.agent import Agent
from edge.config import DeviceConfig
from edge.release_fetch import Downloaded
from edge.release_install import install
from edge.updater import check_release_model
from edge.vision.manifest import ModelRefusedError, load_manifest
from tests.shared_data import vision_dir
from trygg import release as r
from trygg.clock import FakeClock

MODEL = "yolox_nano_coco_416"


def _release(tmp: Path, key: Ed25519PrivateKey) -> tuple[ab.Layout, Path]:
    entry = load_manifest().entry(MODEL)
    bundle = r.build_bundle(
        tmp / "bundle",
        private_key=key,
        version="model-1",
        sources=[r.Source(vision_dir() / "models" / entry.file, "model")],
        created_ms=1_790_000_000_000,
    )
    layout = ab.Layout(tmp / "ab")
    layout.ensure()
    folder = install(
        Downloaded(bundle.folder, bundle.id, bundle.manifest), layout, python=sys.executable
    )
    layout.point("current", bundle.id)
    return layout, folder


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return r.generate_key()


def test_the_release_model_passes_and_a_swapped_one_is_refused(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    _layout, folder = _release(tmp_path, key)
    model = folder / "models" / load_manifest().entry(MODEL).file
    check_release_model(folder, model, [key.public_key()])
    data = bytearray(model.read_bytes())
    data[100] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(ModelRefusedError, match="differs from release"):
        check_release_model(folder, model, [key.public_key()])
    with pytest.raises(r.ReleaseError, match="signature"):
        check_release_model(folder, model, [r.generate_key().public_key()])


def test_an_agent_leaves_out_a_refused_camera_and_says_so(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    layout, folder = _release(tmp_path, key)
    entry = load_manifest().entry(MODEL)
    model = folder / "models" / entry.file
    pub = tmp_path / "release.pub"
    pub.write_bytes(r.public_pem(key.public_key()))
    config = DeviceConfig.model_validate(
        {
            "id": "pole-model-1",
            "site": "solna",
            "state_dir": str(tmp_path / "state"),
            "release": {
                "url": "https://hub/releases",
                "public_keys": [str(pub)],
                "root": str(layout.root),
            },
            "cameras": [
                {
                    "asset": "cam-1",
                    "source": str(tmp_path / "none.mp4"),
                    "crowd": {
                        "detector": {
                            "type": "yolox_onnx",
                            "model": MODEL,
                            "model_dir": str(folder / "models"),
                        }
                    },
                }
            ],
        }
    )
    clock = FakeClock(datetime(2026, 12, 1, tzinfo=UTC))
    agent = Agent(config=config, clock=clock, drivers=[])
    try:
        assert agent.releases is not None
        assert agent.releases.running == folder.name
        # a different model under the release's name: the model manifest alone would not
        # notice if its entry were changed with it, the signed release does
        shutil.copy(
            vision_dir() / "models" / load_manifest().entry("person_detector_192").file, model
        )
        cameras = agent._build_cameras()
        assert cameras == []
        assert "differs from" in agent.camera_errors["cam-1"]
        assert any("vision of cam-1 not loaded" in m for m in agent.health())
    finally:
        agent.outbox.close()
