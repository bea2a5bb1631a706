"""The one error a backup or restore refuses with; its message is for the operator."""

from __future__ import annotations


class BackupError(RuntimeError):
    """A backup could not be taken, or a restore refused (and changed nothing)."""
