"""Rollouts through the API and the store, on SQLite and PostgreSQL: stages planned from the
registry, ``install_release`` queued in the command outbox stage by stage, reports taken,
automatic halt, pause, resume and abort, and refusals that change nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hub.db import AuditEntry, Device, DeviceCommand, Rollout
from hub.rollout import store
from tests.rollout.conftest import Api, Keys, build, tar_of
from trygg import contract as c
from trygg.clock import to_ms

pytestmark = pytest.mark.integration

STAGES = [
    {"name": "kanarie", "devices": ["pole-c1"]},
    {"name": "norr", "sites": ["norr"]},
    {"name": "alla", "share": 1.0},
]


def _release(api: Api, keys: Keys, tmp_path: Path, version: str = "2026.12.1") -> str:
    bundle = build(tmp_path / version, keys.private, version=version, payload=version.encode())
    resp = api.publish(tar_of(bundle.folder))
    assert resp.status_code == 201, resp.text
    return bundle.id


def _create(api: Api, body: dict[str, Any]) -> Any:
    return api.client.post("/api/v1/rollouts", json=body, headers=api.h(api.operator))


def _tick(api: Api) -> None:
    with api.sessions.begin() as s:
        store.tick(s, now=api.clock.now())


def _told(api: Api, release: str) -> dict[str, str]:
    """device -> install command id, for every install_release queued."""
    with api.sessions() as s:
        rows = s.scalars(select(DeviceCommand).where(DeviceCommand.name == "install_release"))
        out = {}
        for cmd in rows:
            assert cmd.args == {"release": release}
            out[cmd.device_id] = cmd.command_id
        return out


def _report(api: Api, device: str, release: str, state: str, reason: str = "") -> bool:
    report = c.ReleaseReport.model_validate(
        {"device": device, "release": release, "state": state, "reason": reason,
         "ts": to_ms(api.clock.now())}
    )  # fmt: skip
    with api.sessions.begin() as s:
        return store.record_report(s, report, device=device, now=api.clock.now())


def _show(api: Api, rollout: int) -> Any:
    resp = api.client.get(f"/api/v1/rollouts/{rollout}", headers=api.h(api.operator))
    assert resp.status_code == 200
    return resp.json()


def test_a_good_release_reaches_every_device_stage_by_stage(
    api: Api, keys: Keys, tmp_path: Path
) -> None:
    release = _release(api, keys, tmp_path)
    resp = _create(api, {"release": release, "stages": STAGES, "deadline_s": 600})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    rid = body["id"]
    assert [(s["name"], s["devices"]) for s in body["stages"]] == [
        ("kanarie", 1), ("norr", 2), ("alla", 3),
    ]  # fmt: skip
    assert body["status"] == "running"
    assert body["created_by"] == "olle"

    expected = [["pole-c1"], ["pole-n1", "pole-n2"], ["pole-c2", "pole-s1", "pole-s2"]]
    for stage, devices in enumerate(expected):
        _tick(api)
        told = _told(api, release)
        assert sorted(told) == sorted(d for st in expected[: stage + 1] for d in st)
        shown = _show(api, rid)
        assert shown["current_stage"] == stage
        assert shown["stages"][stage]["counts"] == {"sent": len(devices)}
        for later in shown["stages"][stage + 1 :]:
            assert later["counts"] == {"pending": later["devices"]}
        api.clock.advance(5)
        for d in devices:
            for state in ("downloading", "verified", "installed", "switched"):
                assert _report(api, d, release, state)
                api.clock.advance(0.01)
        _tick(api)
        assert _show(api, rid)["current_stage"] == stage  # switched is not final
        for d in devices:
            assert _report(api, d, release, "healthy")
        _tick(api)  # the stage finishes; the next one is told on the next tick
    done = _show(api, rid)
    assert done["status"] == "done"
    assert (done["healthy"], done["failed"], done["waiting"]) == (6, 0, 0)
    assert all(s["finished_at"] is not None for s in done["stages"])
    assert {d["state"] for d in done["device_progress"]} == {"healthy"}
    listed = api.client.get("/api/v1/rollouts", headers=api.h(api.operator)).json()
    assert [(r["id"], r["status"], r["version"]) for r in listed] == [(rid, "done", "2026.12.1")]


def test_a_canary_that_rolls_back_halts_before_anyone_else(
    api: Api, keys: Keys, tmp_path: Path
) -> None:
    release = _release(api, keys, tmp_path)
    rid = _create(api, {"release": release, "stages": STAGES}).json()["id"]
    _tick(api)
    assert list(_told(api, release)) == ["pole-c1"]
    api.clock.advance(30)
    assert _report(api, "pole-c1", release, "rolled_back", "health check: no broker ack in 120 s")
    for _ in range(3):
        _tick(api)
    shown = _show(api, rid)
    assert shown["status"] == "halted"
    assert "stage kanarie: 1 device(s) failed" in shown["reason"]
    assert list(_told(api, release)) == ["pole-c1"]  # nobody else was told
    canary = next(d for d in shown["device_progress"] if d["device"] == "pole-c1")
    assert (canary["state"], canary["reason"]) == (
        "rolled_back",
        "health check: no broker ack in 120 s",
    )
    # resuming a halted rollout halts it again while the failure stands
    resp = api.client.post(f"/api/v1/rollouts/{rid}/resume", headers=api.h(api.operator))
    assert resp.json()["status"] == "running"
    _tick(api)
    assert _show(api, rid)["status"] == "halted"
    assert list(_told(api, release)) == ["pole-c1"]


def test_a_silent_canary_counts_as_failed_at_the_deadline(
    api: Api, keys: Keys, tmp_path: Path
) -> None:
    release = _release(api, keys, tmp_path)
    rid = _create(api, {"release": release, "stages": STAGES, "deadline_s": 300}).json()["id"]
    _tick(api)
    api.clock.advance(299)
    _tick(api)
    assert _show(api, rid)["status"] == "running"
    api.clock.advance(1)
    _tick(api)
    shown = _show(api, rid)
    assert shown["status"] == "halted"
    assert shown["stages"][0]["counts"] == {"timed_out": 1}


def test_a_device_whose_birth_runs_it_is_not_told(api: Api, keys: Keys, tmp_path: Path) -> None:
    release = _release(api, keys, tmp_path)
    with api.sessions.begin() as s:
        dev = s.get(Device, "pole-n1")
        assert dev is not None
        dev.release = release
    rid = _create(api, {"release": release, "stages": STAGES[:2]}).json()["id"]
    _tick(api)
    assert _report(api, "pole-c1", release, "healthy")
    _tick(api)
    _tick(api)
    assert sorted(_told(api, release)) == ["pole-c1", "pole-n2"]
    norr = _show(api, rid)["stages"][1]["counts"]
    assert norr == {"healthy": 1, "sent": 1}


def test_pause_resume_and_abort(api: Api, keys: Keys, tmp_path: Path) -> None:
    release = _release(api, keys, tmp_path)
    rid = _create(api, {"release": release, "stages": STAGES}).json()["id"]

    def act(action: str) -> Any:
        return api.client.post(f"/api/v1/rollouts/{rid}/{action}", headers=api.h(api.operator))

    assert act("pause").json()["status"] == "paused"
    assert act("pause").status_code == 409
    _tick(api)
    assert _told(api, release) == {}  # paused before the canary was told
    assert act("resume").json()["status"] == "running"
    _tick(api)
    told = _told(api, release)
    assert list(told) == ["pole-c1"]
    assert act("abort").json()["status"] == "aborted"
    with api.sessions() as s:
        cmd = s.scalars(
            select(DeviceCommand).where(DeviceCommand.command_id == told["pole-c1"])
        ).one()
        assert (cmd.ok, cmd.message) == (False, "withdrawn: the rollout was aborted")
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.target == f"rollout:{rid}"))
        assert list(actions) == [
            "rollout.create", "rollout.pause", "rollout.resume", "rollout.abort",
        ]  # fmt: skip
    assert act("resume").status_code == 409
    _tick(api)
    assert list(_told(api, release)) == ["pole-c1"]
    # once it is over, a new rollout may start
    assert _create(api, {"release": release, "stages": STAGES}).status_code == 201


def test_refusals_change_nothing(api: Api, keys: Keys, tmp_path: Path) -> None:
    release = _release(api, keys, tmp_path)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"release": "0" * 64, "stages": STAGES}, 404, "no release"),
        ({"release": release, "stages": [{"name": "k", "devices": ["pole-zz"]}]}, 409,
         "no device 'pole-zz'"),
        ({"release": release, "stages": [{"name": "k", "sites": ["mars"]}]}, 409, "site 'mars'"),
        ({"release": release, "stages": [{"name": "k"}]}, 409, "names no devices"),
        ({"release": release, "stages": [{"name": "k", "share": 1.0}], "device_class": "bin"},
         409, "canary stage holds no device"),
        ({"release": release, "stages": []}, 422, ""),
        ({"release": release, "stages": STAGES, "failure_share": 1.0}, 422, ""),
        ({"release": release, "stages": STAGES, "surprise": 1}, 422, ""),
    ]  # fmt: skip
    for body, status, why in cases:
        resp = _create(api, body)
        assert resp.status_code == status, (body, resp.text)
        assert why in str(resp.json()["detail"])
    crew = api.client.post(
        "/api/v1/rollouts", json={"release": release, "stages": STAGES}, headers=api.h(api.crew)
    )
    assert crew.status_code == 403
    with api.sessions() as s:
        assert s.scalars(select(Rollout)).all() == []
    assert _create(api, {"release": release, "stages": STAGES}).status_code == 201
    second = _create(api, {"release": release, "stages": STAGES})
    assert second.status_code == 409
    assert "still open" in second.json()["detail"]
    missing = api.client.post("/api/v1/rollouts/999/pause", headers=api.h(api.operator))
    assert missing.status_code == 404


def test_reports_for_other_releases_or_devices_are_not_taken(
    api: Api, keys: Keys, tmp_path: Path
) -> None:
    release = _release(api, keys, tmp_path)
    rid = _create(api, {"release": release, "stages": STAGES}).json()["id"]
    _tick(api)
    assert not _report(api, "pole-c1", "f" * 64, "healthy")  # a release not rolled out
    assert not _report(api, "pole-x9", release, "healthy")  # not in the rollout
    api.clock.advance(10)
    assert _report(api, "pole-c1", release, "switched")
    api.clock.advance(-5)
    assert not _report(api, "pole-c1", release, "downloading")  # older than what was taken
    assert _show(api, rid)["stages"][0]["counts"] == {"switched": 1}
