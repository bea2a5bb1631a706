"""The fleet dashboard's rollout gauges: devices per state in each stage of open rollouts."""

from __future__ import annotations

from pathlib import Path

from hub.db import Device, Release, open_database
from hub.gauges import gauge_lines, snapshot
from hub.rollout import plan, store
from tests.api.conftest import T0
from trygg.clock import to_ms

REL = "cd" * 32


def test_open_rollouts_become_rollout_devices_points(tmp_path: Path) -> None:
    sessions = open_database(f"sqlite:///{tmp_path}/hub.sqlite")
    try:
        with sessions.begin() as s:
            for d, site in (("p1", "a"), ("p2", "a"), ("p3", "b")):
                s.add(Device(id=d, site=site, above={"seqs": []}))
            s.add(Release(id=REL, version="2026.12.9", created=T0, published_at=T0,
                          published_by="ada", notes="", size=1, files={"files": []}))  # fmt: skip
            s.flush()
            specs = [plan.StageSpec("kanarie", devices=("p1",)), plan.StageSpec("alla", share=1)]
            store.create(s, release_id=REL, specs=specs, failure_share=0, deadline_s=60,
                         actor="olle", now=T0)  # fmt: skip
            store.tick(s, now=T0)
        with sessions() as s:
            snap = snapshot(s, T0)
        assert snap.rollouts == ((1, "2026.12.9", "alla", "pending", 2),
                                 (1, "2026.12.9", "kanarie", "sent", 1))  # fmt: skip
        lines = [x for x in gauge_lines(snap, to_ms(T0)) if x.startswith("rollout_devices")]
        assert lines == [
            f"rollout_devices,rollout=1,stage=alla,state=pending,version=2026.12.9 count=2i {to_ms(T0)}",
            f"rollout_devices,rollout=1,stage=kanarie,state=sent,version=2026.12.9 count=1i {to_ms(T0)}",
        ]  # fmt: skip
        with sessions.begin() as s:
            store.act(s, rollout_id=1, action="abort", actor="olle", now=T0)
        with sessions() as s:
            assert snapshot(s, T0).rollouts == ()  # a closed rollout is no longer shown
    finally:
        sessions.kw["bind"].dispose()
