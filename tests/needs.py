"""What a test does when something it needs is missing: skip on a developer's machine, fail in CI.

In CI (``CI=true``) every service and program must be there, so a missing one is an error of the
set-up, never a reason to pass quietly.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Skip the calling test outside CI; fail it in CI."""
    if in_ci():
        pytest.fail(reason)
    pytest.skip(reason)


def need_binary(binary: str, package: str | None = None) -> str:
    """The path of ``binary`` (also looked for in the sbin folders), or :func:`unavailable`."""
    found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")
    if found is None:
        unavailable(f"{binary} is not installed (apt-get install {package or binary})")
    return found
