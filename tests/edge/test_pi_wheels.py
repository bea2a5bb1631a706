"""The edge extra resolves for a Raspberry Pi (aarch64, CPython 3.11) from binary wheels only.

Both platform tags are needed: with manylinux2014 alone pip falls back to an old
onnxruntime; with manylinux_2_28 alone it misses wheels tagged only 2014. Needs PyPI (or
the configured index); ``make test`` runs it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_edge_extra_downloads_as_aarch64_wheels(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--only-binary=:all:",
        "--python-version",
        "3.11",
        "--platform",
        "manylinux_2_28_aarch64",
        "--platform",
        "manylinux2014_aarch64",
        "--dest",
        str(tmp_path),
        "--quiet",
        ".[edge]",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheels = {p.name.split("-")[0].lower() for p in tmp_path.glob("*.whl")}
    assert {"gpiozero", "smbus2", "numpy", "onnxruntime", "pydantic_core"} <= wheels
    # releases: Ed25519 signatures and the HTTPS download (docs/releases.md)
    assert {"cryptography", "httpx"} <= wheels
    assert not {"aiomqtt", "paho_mqtt"} & wheels  # the edge speaks MQTT through trygg.mqtt
    native = [p.name for p in tmp_path.glob("*.whl") if not p.name.endswith("-any.whl")]
    assert native
    assert all("aarch64" in name for name in native), native
    ort = next(p.name for p in tmp_path.glob("onnxruntime-*.whl"))
    assert int(ort.split("-")[1].split(".")[1]) >= 17, ort  # not the old fallback
