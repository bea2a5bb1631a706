"""The rollout state machine, pure: stages from a fleet, reports, halts, deadlines, actions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hub.rollout import plan
from hub.rollout.plan import (
    DeviceProgress,
    FleetDevice,
    PlanError,
    RolloutView,
    StageSpec,
    StageView,
    TransitionError,
)
from tests.purity import io_imported_by

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
REL = "a" * 64
FLEET = (
    [FleetDevice(f"n-{i}", "norr") for i in range(4)]
    + [FleetDevice(f"s-{i}", "syd", frozenset({"arenan"})) for i in range(4)]
    + [FleetDevice(f"c-{i}", "centrum") for i in range(2)]
)


def test_the_plan_is_pure() -> None:
    assert io_imported_by("hub.rollout.plan") == []


def test_canary_then_growing_shares_site_by_site() -> None:
    stages = plan.plan_stages(
        [
            StageSpec("canary", devices=("n-0", "s-0")),
            StageSpec("half", share=0.5),
            StageSpec("all", share=1.0),
        ],
        FLEET,
    )
    assert [s.name for s in stages] == ["canary", "half", "all"]
    assert stages[0].devices == ("n-0", "s-0")
    # half of 10 = 5 by the end of the stage: 3 more, taken in site order (centrum first)
    assert stages[1].devices == ("c-0", "c-1", "n-1")
    assert set(stages[2].devices) == {"n-2", "n-3", "s-1", "s-2", "s-3"}
    every = [d for s in stages for d in s.devices]
    assert sorted(every) == sorted(d.id for d in FLEET)  # each device exactly once
    assert all(s.max_failures == 0 for s in stages)


def test_sites_places_and_failure_share() -> None:
    stages = plan.plan_stages(
        [
            StageSpec("canary", sites=("centrum",)),
            StageSpec("arena district", places=("arenan",)),
            StageSpec("rest", share=1.0, max_failures=2),
        ],
        FLEET,
        failure_share=0.25,
    )
    assert stages[0] == plan.StagePlan("canary", ("c-0", "c-1"), 0)
    assert stages[1] == plan.StagePlan("arena district", ("s-0", "s-1", "s-2", "s-3"), 1)
    assert stages[2] == plan.StagePlan("rest", ("n-0", "n-1", "n-2", "n-3"), 2)


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([], "at least one stage"),
        ([StageSpec("c", devices=("nope",))], "no device 'nope'"),
        ([StageSpec("c", sites=("mars",))], "no device at site 'mars'"),
        ([StageSpec("c", places=("mars",))], "no device in place 'mars'"),
        ([StageSpec("c")], "names no devices"),
        ([StageSpec("c", share=1.5)], "must be in (0, 1]"),
        ([StageSpec("c", share=0.5), StageSpec("d", share=0.2)], "not below"),
        ([StageSpec("c", share=0.5), StageSpec("c", share=1.0)], "name of its own"),
        ([StageSpec("c", devices=("n-0",), max_failures=-1)], "must not be negative"),
    ],
)
def test_bad_stages_are_refused(specs: list[StageSpec], message: str) -> None:
    with pytest.raises(PlanError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan.plan_stages(specs, FLEET)


def test_an_empty_fleet_has_no_canary() -> None:
    with pytest.raises(PlanError, match="canary stage holds no device"):
        plan.plan_stages([StageSpec("c", share=1.0)], [])


def _view(
    devices: list[DeviceProgress],
    *,
    status: plan.RolloutStatus = "running",
    current: int = 0,
    allowances: tuple[int, ...] = (0, 0),
) -> RolloutView:
    return RolloutView(
        release=REL,
        status=status,
        current=current,
        deadline=timedelta(minutes=10),
        stages=tuple(StageView(f"s{i}", n) for i, n in enumerate(allowances)),
        devices=tuple(devices),
    )


def test_running_sends_the_current_stage_only() -> None:
    view = _view([DeviceProgress("a", 0), DeviceProgress("b", 0), DeviceProgress("c", 1)])
    d = plan.step(view, T0)
    assert d.status == "running"
    assert d.send == ("a", "b")
    assert d.current == 0


def test_a_device_already_on_the_release_is_not_told() -> None:
    view = _view([DeviceProgress("a", 0, running=REL), DeviceProgress("b", 0, running="b" * 64)])
    d = plan.step(view, T0)
    assert d.send == ("b",)
    assert d.updates == (plan.Update("a", "healthy", "already runs this release"),)


def test_stage_advances_when_all_final_and_finishes() -> None:
    sent = T0 - timedelta(minutes=1)
    view = _view(
        [
            DeviceProgress("a", 0, "healthy", sent),
            DeviceProgress("b", 0, "switched", sent),
            DeviceProgress("c", 1),
        ]
    )
    assert plan.step(view, T0).current == 0  # b is not final yet
    view = replace(view, devices=(*view.devices[:1], replace(view.devices[1], state="healthy"),
                                  view.devices[2]))  # fmt: skip
    d = plan.step(view, T0)
    assert (d.status, d.current, d.finished, d.send) == ("running", 1, (0,), ())
    d = plan.step(replace(view, current=1), T0)
    assert d.send == ("c",)
    last = replace(view, current=1, devices=(*view.devices[:2], DeviceProgress("c", 1, "healthy")))
    d = plan.step(last, T0)
    assert (d.status, d.finished) == ("done", (1,))


@pytest.mark.parametrize("bad", ["rolled_back", "failed", "timed_out"])
def test_one_failed_canary_halts_before_anyone_else(bad: plan.DeviceState) -> None:
    view = _view(
        [
            DeviceProgress("a", 0, bad, T0),
            DeviceProgress("b", 0, "healthy", T0),
            DeviceProgress("c", 1),
        ]
    )
    d = plan.step(view, T0)
    assert d.status == "halted"
    assert d.send == ()
    assert "stage s0: 1 device(s) failed, at most 0 allowed" in d.reason
    # halted: nothing is sent on later ticks either
    assert plan.step(replace(view, status="halted"), T0).send == ()


def test_failures_within_the_allowance_do_not_halt() -> None:
    view = _view(
        [DeviceProgress("a", 0, "failed", T0), DeviceProgress("b", 0, "healthy", T0)],
        allowances=(1, 0),
    )
    d = plan.step(view, T0)
    assert (d.status, d.current) == ("running", 1)


def test_a_late_failure_in_an_earlier_stage_halts_too() -> None:
    view = _view(
        [DeviceProgress("a", 0, "rolled_back", T0), DeviceProgress("b", 1, "sent", T0)],
        current=1,
    )
    assert plan.step(view, T0).status == "halted"


def test_silence_past_the_deadline_counts_as_failed() -> None:
    told = T0 - timedelta(minutes=10)
    view = _view([DeviceProgress("a", 0, "downloading", told), DeviceProgress("b", 0, "sent", T0)])
    d = plan.step(view, T0)
    assert plan.Update("a", "timed_out", "no final report within 10 min") in d.updates
    assert d.status == "halted"
    # a minute earlier it still waits
    assert plan.step(view, T0 - timedelta(minutes=1)).status == "running"


def test_an_overdue_device_whose_birth_runs_the_release_counts_as_healthy() -> None:
    told = T0 - timedelta(hours=1)
    view = _view([DeviceProgress("a", 0, "switched", told, running=REL)])
    d = plan.step(view, T0)
    assert d.updates[0].state == "healthy"
    assert d.status == "running"
    assert d.current == 1


def test_a_refused_command_fails_the_device() -> None:
    view = _view([DeviceProgress("a", 0, "sent", T0, command_failed="unknown command")])
    d = plan.step(view, T0)
    assert d.updates == (
        plan.Update("a", "failed", "refused the install command: unknown command"),
    )
    assert d.status == "halted"


def test_paused_sends_nothing_but_still_settles() -> None:
    told = T0 - timedelta(hours=1)
    view = _view([DeviceProgress("a", 0, "sent", told), DeviceProgress("b", 0)], status="paused")
    d = plan.step(view, T0)
    assert d.send == ()
    assert d.status == "paused"
    assert [u.state for u in d.updates] == ["timed_out"]


def test_reports_apply_in_the_devices_time_order() -> None:
    p = DeviceProgress("a", 0, "sent", T0)
    p1 = plan.apply_report(p, state="downloading", ts_ms=100)
    assert p1 is not None
    assert p1.state == "downloading"
    p2 = plan.apply_report(p1, state="rolled_back", ts_ms=300)
    assert p2 is not None
    assert p2.state == "rolled_back"
    assert plan.apply_report(p2, state="switched", ts_ms=200) is None  # older: ignored
    assert plan.apply_report(p2, state="rolled_back", ts_ms=300) is None  # the same again
    assert plan.apply_report(p2, state="exploded", ts_ms=400) is None
    late = plan.apply_report(replace(p2, state="timed_out"), state="healthy", ts_ms=500)
    assert late is not None
    assert late.state == "healthy"


@pytest.mark.parametrize(
    ("status", "action", "to"),
    [
        ("running", "pause", "paused"),
        ("paused", "resume", "running"),
        ("halted", "resume", "running"),
        ("running", "abort", "aborted"),
        ("halted", "abort", "aborted"),
        ("paused", "abort", "aborted"),
    ],
)
def test_actions(status: plan.RolloutStatus, action: str, to: str) -> None:
    assert plan.act(status, action) == to


@pytest.mark.parametrize(
    ("status", "action"),
    [("done", "abort"), ("aborted", "resume"), ("running", "resume"), ("paused", "pause"),
     ("running", "explode")],
)  # fmt: skip
def test_actions_that_do_not_apply(status: plan.RolloutStatus, action: str) -> None:
    with pytest.raises(TransitionError):
        plan.act(status, action)
