"""Where the shared real test data lives (../shared by default, or $TRYGG_SHARED)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.needs import unavailable

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """The shared folder; skips the test outside CI when missing, fails it in CI."""
    path = Path(os.environ.get("TRYGG_SHARED", PROJECT_ROOT.parent / "shared")).resolve()
    if not (path / "vision").is_dir():
        reason = f"shared test data not found at {path} (set TRYGG_SHARED)"
        unavailable(reason)
    return path


def vision_dir() -> Path:
    return shared_dir() / "vision"
