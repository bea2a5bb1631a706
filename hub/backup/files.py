"""The PKI and configuration files of a backup: gathered into one archive (sealed by
:mod:`hub.backup.secrets`, since keys and passwords are in it) and put back where they were.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from collections.abc import Sequence
from pathlib import Path

from hub.backup.errors import BackupError

_INDEX = "index.json"


def pack(paths: Sequence[Path]) -> bytes:
    """A tar of each file or folder in ``paths`` (stored under its index number) and an
    index of their absolute paths."""
    buf = io.BytesIO()
    index: list[str] = []
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i, path in enumerate(paths):
            if not path.exists():
                raise BackupError(f"{path} does not exist (given to back up)")
            index.append(str(path.resolve()))
            tar.add(path, arcname=str(i))
        raw = json.dumps(index).encode()
        info = tarfile.TarInfo(_INDEX)
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def _index(tar: tarfile.TarFile) -> list[Path]:
    member = tar.extractfile(_INDEX)
    if member is None:
        raise BackupError("the secrets archive has no index")
    return [Path(p) for p in json.loads(member.read())]


def targets(blob: bytes) -> list[Path]:
    """Where the archive's files and folders go back to."""
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        return _index(tar)


def occupied(blob: bytes) -> list[Path]:
    """The targets that already hold a file (a restore without --force refuses over them)."""
    return [
        p
        for p in targets(blob)
        if p.is_file() or (p.is_dir() and any(f.is_file() for f in p.rglob("*")))
    ]


def unpack(blob: bytes, scratch: Path) -> None:
    """Put every file and folder back at its path; each is first extracted into ``scratch``
    (on the same file system when possible) and then moved into place."""
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        index = _index(tar)
        tar.extractall(scratch, filter="data")
    for i, target in enumerate(index):
        src = scratch / str(i)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir() and src.is_dir():
            for item in sorted(src.rglob("*")):
                dest = target / item.relative_to(src)
                if item.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                else:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(item, dest)
        else:
            shutil.move(src, target)
