"""The health registry and the /ready document: pure, with explicit times."""

from __future__ import annotations

from hub.api.health import ready_document
from hub.health import MAX_ERROR, Health, describe
from tests.purity import io_imported_by


def test_health_is_pure() -> None:
    assert io_imported_by("hub.health") == []


def test_a_failing_part_keeps_the_time_it_first_failed_and_counts_repeats() -> None:
    h = Health()
    h.starting("worker:ingest", now=0.0)
    assert h.ok("worker:ingest", now=1.0) is False  # from starting: not a recovery
    first = h.failed("worker:ingest", "DataError: x", now=10.0)
    again = h.failed("worker:ingest", "DataError: y", now=12.0)
    assert (first.since, first.failures) == (10.0, 1)
    assert (again.since, again.failures, again.last_error) == (10.0, 2, "DataError: y")
    assert h.degraded(now=14.9, grace_s=5.0) == []
    assert [p.name for p in h.degraded(now=15.0, grace_s=5.0)] == ["worker:ingest"]
    assert h.ok("worker:ingest", now=20.0) is True
    assert h.ok("worker:ingest", now=21.0) is False
    state = h.parts()[0]
    assert (state.state, state.since, state.failures) == ("ok", 20.0, 0)
    assert h.failing() == []


def test_starting_does_not_overwrite_a_known_state() -> None:
    h = Health()
    h.failed("check:sql", "boom", now=1.0)
    h.starting("check:sql", now=2.0)
    assert h.parts()[0].state == "failing"


def test_describe_is_one_bounded_printable_line() -> None:
    text = describe(ValueError("first\x00line\nsecond line " + "x" * 1000))
    assert text.startswith("ValueError: first?line")
    assert "second" not in text
    assert len(text) <= MAX_ERROR
    assert describe(RuntimeError()) == "RuntimeError: "


def test_ready_only_when_every_part_is_ok_or_stopped_and_storage_is_fine() -> None:
    h = Health()
    for name in ("check:sql", "check:influxdb", "worker:ingest"):
        h.starting(name, now=0.0)
    assert ready_document(h, now=1.0, storage=None)["status"] == "unavailable"  # starting
    for name in ("check:sql", "check:influxdb", "worker:ingest"):
        h.ok(name, now=1.0)
    h.stopped("worker:certificates", now=1.0)
    doc = ready_document(h, now=3.0, storage=None)
    assert doc["status"] == "ready"
    assert {p["name"]: p["state"] for p in doc["parts"]} == {
        "check:influxdb": "ok",
        "check:sql": "ok",
        "worker:certificates": "stopped",
        "worker:ingest": "ok",
    }
    assert doc["parts"][0]["for_s"] == 2.0
    refused = ready_document(h, now=3.0, storage="InfluxDB refuses writes: 401")
    assert (refused["status"], refused["storage_problem"]) == (
        "unavailable",
        "InfluxDB refuses writes: 401",
    )
    h.failed("worker:ingest", "OperationalError: gone", now=4.0)
    doc = ready_document(h, now=5.0, storage=None)
    assert doc["status"] == "unavailable"
    failing = [p for p in doc["parts"] if p["state"] == "failing"]
    assert failing == [
        {
            "name": "worker:ingest",
            "state": "failing",
            "for_s": 1.0,
            "last_error": "OperationalError: gone",
            "failures": 1,
        }
    ]


def test_not_ready_without_checks_or_registry() -> None:
    assert ready_document(None, now=0.0, storage=None)["status"] == "unavailable"
    h = Health()
    h.ok("worker:ingest", now=0.0)
    assert ready_document(h, now=0.0, storage=None)["status"] == "unavailable"
