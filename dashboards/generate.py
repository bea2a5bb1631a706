"""Write the rendered dashboards to ``dashboards/generated/`` and find stale files."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from dashboards.catalogue import rendered

GENERATED_DIR: Final = Path(__file__).resolve().parent / "generated"


def write(directory: Path = GENERATED_DIR) -> list[Path]:
    """Write every dashboard and delete JSON files no dashboard produces; returns written."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = rendered()
    for old in directory.glob("*.json"):
        if old.name not in wanted:
            old.unlink()
    written = []
    for name, text in wanted.items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written


def stale(directory: Path = GENERATED_DIR) -> list[str]:
    """Names of files that differ from the code, are missing, or are left over."""
    wanted = rendered()
    present = {p.name for p in directory.glob("*.json")} if directory.is_dir() else set()
    problems = [f"{name} is left over" for name in sorted(present - set(wanted))]
    for name, text in sorted(wanted.items()):
        path = directory / name
        if not path.exists():
            problems.append(f"{name} is missing")
        elif path.read_text() != text:
            problems.append(f"{name} is out of date")
    return problems
