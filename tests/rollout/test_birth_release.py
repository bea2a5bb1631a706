"""A birth's release reaches the devices table (what a rollout reads), on both databases."""

from __future__ import annotations

import pytest

from hub.db import Device, open_database
from hub.ingest_store import BatchWrite, IngestStore
from trygg import contract as c

pytestmark = pytest.mark.integration
REL = "ab" * 32


def _birth(release: str | None) -> c.Birth:
    return c.Birth.model_validate(
        {"device": "pole-b1", "boot": 1, "ts": 1_796_000_000_000, "firmware": "2026.12",
         "release": release, "site": "centrum", "heartbeat_s": 60, "low": 1, "assets": []}
    )  # fmt: skip


def test_the_birth_names_the_release_the_pole_runs(sql_url: str) -> None:
    sessions = open_database(sql_url)
    store = IngestStore(sessions, dead_letter_max=10)
    try:
        for release in (REL, None):
            store.write(BatchWrite(births=[_birth(release)], devices={}, rejected=[], counters={}))
            with sessions() as s:
                dev = s.get(Device, "pole-b1")
                assert dev is not None
                assert dev.release == release  # a hand-installed agent clears it again
    finally:
        sessions.kw["bind"].dispose()
