"""Which I/O libraries importing a module pulls in: pure modules must pull in none."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IO_LIBRARIES = ("asyncio", "paho", "sqlalchemy", "httpx", "socket", "subprocess")


def io_imported_by(*modules: str, io: tuple[str, ...] = IO_LIBRARIES) -> list[str]:
    """The members of ``io`` loaded after importing ``modules`` in a fresh interpreter."""
    code = (
        f"import sys\nimport {', '.join(modules)}\n"
        f"print(','.join(m for m in {io!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return [m for m in out.stdout.strip().split(",") if m]
