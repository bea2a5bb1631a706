"""Write the rendered dashboards and provisioning files, and find stale ones.

``dashboards/generated/*.json`` and ``dashboards/provisioning/**.yaml`` are committed so
Grafana and docker-compose use them without running Python; a test fails when they differ
from what the code renders (run ``trygg dashboards generate`` after changing the code).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from dashboards import provisioning
from dashboards.catalogue import rendered

ROOT: Final = Path(__file__).resolve().parent
GENERATED: Final = "generated"


def outputs() -> dict[str, str]:
    """Path relative to ``dashboards/`` -> the text the code renders for it."""
    out = {f"{GENERATED}/{name}": text for name, text in rendered().items()}
    out.update({f"provisioning/{rel}": text for rel, text in provisioning.files().items()})
    return out


def write(root: Path = ROOT) -> list[Path]:
    """Write every output (only when changed) and delete dashboard JSON no code produces."""
    wanted = outputs()
    folder = root / GENERATED
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.json"):
        if f"{GENERATED}/{old.name}" not in wanted:
            old.unlink()
    written = []
    for rel, text in wanted.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written


def stale(root: Path = ROOT) -> list[str]:
    """What differs from the code: files out of date, missing, or left over."""
    wanted = outputs()
    folder = root / GENERATED
    present = {f"{GENERATED}/{p.name}" for p in folder.glob("*.json")} if folder.is_dir() else set()
    problems = [f"{rel} is left over" for rel in sorted(present - set(wanted))]
    for rel, text in sorted(wanted.items()):
        path = root / rel
        if not path.exists():
            problems.append(f"{rel} is missing")
        elif path.read_text() != text:
            problems.append(f"{rel} is out of date")
    return problems
