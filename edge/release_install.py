"""Building an installed release folder from a verified download, beside the running one.

The folder is built under ``staging/``, every file fsynced, and only then renamed into
``releases/<id>``: a release folder that exists is complete. The release's wheels are
installed with pip into ``lib/`` (``--no-index``: nothing comes from anywhere but the
release), which the launcher puts first on the agent's path; its config and model files are
placed beside, at the paths the manifest names.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Final

from edge.ab import Layout, fsync_dir, fsync_tree
from edge.release_fetch import Downloaded
from trygg import release as r

PIP_TIMEOUT_S: Final = 900.0


def _pip(python: str, wheels: list[Path], target: Path) -> None:
    cmd = [
        python,
        "-m",
        "pip",
        "install",
        "--no-index",
        "--no-deps",
        "--disable-pip-version-check",
        "--no-input",
        "--target",
        str(target),
        *map(str, wheels),
    ]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise r.ReleaseError(f"pip: {exc}") from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise r.ReleaseError(f"pip install failed ({done.returncode}): {last}"[:300])


def install(downloaded: Downloaded, layout: Layout, *, python: str) -> Path:
    """The installed folder of ``downloaded`` (built now unless it already exists).

    Blocking: run it in a worker thread. Raises ReleaseError when a file no longer matches
    its hash, pip refuses a wheel, or the disk fails.
    """
    final = layout.release_dir(downloaded.id)
    if final.is_dir():
        return final
    build = layout.staging / f"{downloaded.id}.build"
    try:
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir(parents=True)
        for name in (r.MANIFEST, r.SIGNATURE):
            shutil.copyfile(downloaded.folder / name, build / name)
        for entry in downloaded.manifest.files:
            dest = build / r.safe_path(entry.path)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(downloaded.folder / r.FILES / entry.sha256, dest)
            r.check_file(dest, entry)  # the copy, not only the download, is what runs
        wheels = [build / e.path for e in downloaded.manifest.by_role("wheel")]
        if wheels:
            _pip(python, wheels, build / "lib")
        fsync_tree(build)
        build.rename(final)
        fsync_dir(final.parent)
    except OSError as exc:
        shutil.rmtree(build, ignore_errors=True)
        raise r.ReleaseError(f"disk: {exc}") from exc
    return final
