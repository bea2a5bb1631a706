"""Exactly-once checks shared by the loss tests: hub counters, hub watermark, InfluxDB."""

from __future__ import annotations

from pathlib import Path

from edge.outbox import Outbox
from hub.app import Hub

FIELDS = ("powerState", "activePower", "intensity")


def outbox_totals(state_dir: Path) -> tuple[int, int, int]:
    """(readings ever stored, messages ever stored, messages still held) of a closed outbox."""
    box = Outbox(state_dir / "outbox.sqlite", capacity=10**9)
    try:
        s = box.stats()
        return s.readings_in, s.next_seq - 1, s.depth
    finally:
        box.close()


async def influx_readings(hub: Hub, device: str) -> int:
    counts = ", ".join(f'count("{f}")' for f in FIELDS)
    result = await hub.influx.query(
        f'SELECT {counts} FROM "raw"."streetlight" WHERE device=\'{device}\''
    )
    series = result[0].get("series") if result else None
    if not series:
        return 0
    return int(sum(v or 0 for v in series[0]["values"][0][1:]))


async def assert_exactly_once(hub: Hub, device: str, state_dir: Path) -> dict[str, int]:
    """Every reading the outbox ever held is in the hub exactly once; returns the figures."""
    readings_in, messages, held = outbox_totals(state_dir)
    counters = hub.ingest.counters
    seq = hub.ingest.sequences.row(device)
    in_influx = await influx_readings(hub, device)
    figures = {
        "readings_produced": readings_in,
        "messages": messages,
        "hub_readings": counters.readings,
        "hub_duplicates": counters.duplicates,
        "hub_duplicate_readings": counters.duplicate_readings,
        "influx_readings": in_influx,
        "watermark": seq.watermark,
        "hub_gaps_seen": counters.gaps,  # holes observed on the way, later filled by re-sends
    }
    assert held == 0, figures
    assert readings_in > 0, figures
    assert counters.readings == readings_in, figures  # accepted once each ...
    assert in_influx == readings_in, figures  # ... and stored once each
    assert seq.watermark == messages, figures  # no sequence gap left open
    assert not seq.above, figures  # nothing stored beyond an unfilled hole
    assert counters.lost == 0, figures
    return figures
