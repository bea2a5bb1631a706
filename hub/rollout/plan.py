"""A staged rollout as a pure state machine: which devices each stage holds, what a device's
report does to its progress, and what the rollout does next (send, advance, halt, finish).

Nothing here reads a clock or a database: :mod:`hub.rollout.store` loads a
:class:`RolloutView`, :func:`step` decides, and the store applies the :class:`Decision`.

A rollout is ``running`` (its current stage's devices are told to install), ``paused`` or
``halted`` (nobody new is told; devices already told go on reporting), ``aborted`` or
``done`` (final). It halts by itself when the failures in any started stage exceed that
stage's allowance, so a release that fails on the canaries reaches nobody else.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final, Literal

DeviceState = Literal[
    "pending",  # in a stage not reached yet, or not told yet
    "sent",  # told to install (the command is in the outbox)
    "downloading",
    "verified",
    "installed",
    "switched",
    "healthy",
    "rolled_back",
    "failed",
    "timed_out",  # told, but no final report within the deadline
]
RolloutStatus = Literal["running", "paused", "halted", "aborted", "done"]

ACTIVE: Final[frozenset[str]] = frozenset(
    {"sent", "downloading", "verified", "installed", "switched"}
)
FAILED: Final[frozenset[str]] = frozenset({"rolled_back", "failed", "timed_out"})
FINAL: Final[frozenset[str]] = FAILED | {"healthy"}
OPEN_STATUSES: Final[frozenset[str]] = frozenset({"running", "paused", "halted"})
# The report states a device sends (trygg.contract.ReleaseState) that a rollout records.
REPORTED: Final[frozenset[str]] = frozenset(
    {"downloading", "verified", "installed", "switched", "healthy", "rolled_back", "failed"}
)


class PlanError(ValueError):
    """The stages asked for cannot be made from this fleet; the message says why."""


class TransitionError(ValueError):
    """An operator's action does not apply to the rollout's status."""


# --- planning the stages ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FleetDevice:
    id: str
    site: str
    places: frozenset[str] = frozenset()  # named places (districts, squares) it stands in


@dataclass(frozen=True, slots=True)
class StageSpec:
    """One stage as an operator asks for it: explicit devices, whole sites, whole places
    (a district), or a cumulative ``share`` of the fleet reached by the end of the stage,
    filled site by site. ``max_failures`` overrides the rollout's failure share."""

    name: str
    devices: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    share: float | None = None
    max_failures: int | None = None


@dataclass(frozen=True, slots=True)
class StagePlan:
    name: str
    devices: tuple[str, ...]
    max_failures: int


def plan_stages(
    specs: Sequence[StageSpec], fleet: Iterable[FleetDevice], *, failure_share: float = 0.0
) -> tuple[StagePlan, ...]:
    """The stages with their devices, each device in the first stage that selects it.

    The first stage is the canary and must hold at least one device. A stage may tolerate
    ``floor(failure_share * size)`` failures (or its own ``max_failures``); one more halts
    the rollout. Raises PlanError for an unknown device, site or place, a share outside
    (0, 1] or below an earlier one, a stage that selects nothing by any selector, or an
    empty canary.
    """
    if not specs:
        raise PlanError("a rollout needs at least one stage (the canary)")
    if not 0.0 <= failure_share < 1.0:
        raise PlanError(f"failure share {failure_share} is not in [0, 1)")
    devices = sorted(fleet, key=lambda d: (d.site, d.id))
    by_id = {d.id: d for d in devices}
    sites = {d.site for d in devices}
    places = {p for d in devices for p in d.places}
    names: set[str] = set()
    taken: set[str] = set()
    last_share = 0.0
    out: list[StagePlan] = []
    for i, spec in enumerate(specs):
        where = f"stage {i + 1} ({spec.name})"
        if not spec.name or spec.name in names:
            raise PlanError(f"{where}: needs a name of its own")
        names.add(spec.name)
        if not (spec.devices or spec.sites or spec.places or spec.share is not None):
            raise PlanError(f"{where}: names no devices, sites, places or share")
        for d in spec.devices:
            if d not in by_id:
                raise PlanError(f"{where}: no device {d!r} in the fleet")
        for site in spec.sites:
            if site not in sites:
                raise PlanError(f"{where}: no device at site {site!r}")
        for place in spec.places:
            if place not in places:
                raise PlanError(f"{where}: no device in place {place!r}")
        chosen = [
            d.id
            for d in devices
            if d.id not in taken
            and (d.id in spec.devices or d.site in spec.sites or d.places & set(spec.places))
        ]
        if spec.share is not None:
            if not 0.0 < spec.share <= 1.0 or spec.share < last_share:
                raise PlanError(
                    f"{where}: share {spec.share} must be in (0, 1] and not below "
                    f"an earlier stage's ({last_share})"
                )
            last_share = spec.share
            target = math.ceil(spec.share * len(devices) - 1e-9)
            room = target - len(taken) - len(chosen)
            chosen += [d.id for d in devices if d.id not in taken and d.id not in chosen][
                : max(0, room)
            ]
        if i == 0 and not chosen:
            raise PlanError(f"{where}: the canary stage holds no device")
        if spec.max_failures is not None and spec.max_failures < 0:
            raise PlanError(f"{where}: max_failures must not be negative")
        allowed = (
            spec.max_failures
            if spec.max_failures is not None
            else math.floor(failure_share * len(chosen) + 1e-9)
        )
        taken.update(chosen)
        out.append(StagePlan(spec.name, tuple(sorted(chosen)), allowed))
    return tuple(out)


# --- one device's progress -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceProgress:
    device: str
    stage: int  # index into the rollout's stages
    state: DeviceState = "pending"
    sent_at: datetime | None = None
    reported_ms: int = 0  # the device's timestamp of the report last taken
    running: str | None = None  # the release its last birth said it runs
    command_failed: str | None = None  # the device refused the install command: why


def apply_report(progress: DeviceProgress, *, state: str, ts_ms: int) -> DeviceProgress | None:
    """``progress`` after the device reported ``state`` at ``ts_ms``, or None when the
    report changes nothing: older than the one already taken (reports may arrive out of
    order after a reconnect), or a state this machine does not know."""
    if state not in REPORTED or ts_ms < progress.reported_ms:
        return None
    new: DeviceState = state  # type: ignore[assignment]  # checked against REPORTED
    if new == progress.state and ts_ms == progress.reported_ms:
        return None
    return replace(progress, state=new, reported_ms=ts_ms)


# --- the rollout's next step -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StageView:
    name: str
    max_failures: int


@dataclass(frozen=True, slots=True)
class RolloutView:
    release: str
    status: RolloutStatus
    current: int  # index of the stage being rolled out
    deadline: timedelta  # a told device's longest silence before it counts as failed
    stages: tuple[StageView, ...]
    devices: tuple[DeviceProgress, ...]


@dataclass(frozen=True, slots=True)
class Update:
    device: str
    state: DeviceState
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    status: RolloutStatus
    current: int
    send: tuple[str, ...] = ()  # devices to tell to install now
    updates: tuple[Update, ...] = ()
    reason: str = ""  # why the status changed, "" when it did not
    finished: tuple[int, ...] = field(default=())  # stages that completed now

    def changes(self, view: RolloutView) -> bool:
        return bool(
            self.send
            or self.updates
            or self.finished
            or self.status != view.status
            or self.current != view.current
        )


def stage_counts(view: RolloutView, stage: int) -> dict[str, int]:
    """How many of ``stage``'s devices are in each state."""
    out: dict[str, int] = {}
    for d in view.devices:
        if d.stage == stage:
            out[d.state] = out.get(d.state, 0) + 1
    return out


def _settle(d: DeviceProgress, view: RolloutView, now: datetime) -> Update | None:
    """A told device's state decided without a report: refused, overdue, or already there."""
    if d.state == "pending" and d.running == view.release:
        return Update(d.device, "healthy", "already runs this release")
    if d.state not in ACTIVE:
        return None
    if d.command_failed is not None:
        return Update(d.device, "failed", f"refused the install command: {d.command_failed}")
    if d.sent_at is not None and now - d.sent_at >= view.deadline:
        if d.running == view.release:
            return Update(d.device, "healthy", "its birth runs this release (no final report)")
        minutes = view.deadline.total_seconds() / 60
        return Update(d.device, "timed_out", f"no final report within {minutes:g} min")
    return None


def step(view: RolloutView, now: datetime) -> Decision:
    """What to do now: settle overdue devices, then (when running) halt if a started stage
    has failed beyond its allowance, tell the current stage's waiting devices to install,
    and move on once every device of the stage has a final state."""
    updates = [u for d in view.devices if (u := _settle(d, view, now)) is not None]
    settled = {u.device: u.state for u in updates}
    states = {d.device: settled.get(d.device, d.state) for d in view.devices}
    if view.status != "running":
        return Decision(view.status, view.current, updates=tuple(updates))
    for i in range(view.current + 1):
        stage = view.stages[i]
        failed = sum(1 for d in view.devices if d.stage == i and states[d.device] in FAILED)
        if failed > stage.max_failures:
            why = (
                f"stage {stage.name}: {failed} device(s) failed, "
                f"at most {stage.max_failures} allowed"
            )
            return Decision("halted", view.current, updates=tuple(updates), reason=why)
    members = [d.device for d in view.devices if d.stage == view.current]
    send = tuple(sorted(d for d in members if states[d] == "pending"))
    if send or any(states[d] not in FINAL for d in members):
        return Decision("running", view.current, send=send, updates=tuple(updates))
    if view.current + 1 < len(view.stages):
        return Decision(
            "running", view.current + 1, updates=tuple(updates), finished=(view.current,)
        )
    return Decision(
        "done",
        view.current,
        updates=tuple(updates),
        reason="every stage finished",
        finished=(view.current,),
    )


# --- operators' actions ----------------------------------------------------------------

_ACTIONS: Final[dict[str, tuple[frozenset[str], RolloutStatus]]] = {
    "pause": (frozenset({"running"}), "paused"),
    "resume": (frozenset({"paused", "halted"}), "running"),
    "abort": (OPEN_STATUSES, "aborted"),
}


def act(status: RolloutStatus, action: str) -> RolloutStatus:
    """The status after an operator's ``action`` (pause, resume, abort). A resumed halted
    rollout halts again at once unless its failures are within the allowance now (a late
    report turned a timeout into success). Raises TransitionError when it does not apply."""
    if action not in _ACTIONS:
        raise TransitionError(f"unknown action {action!r}")
    allowed, to = _ACTIONS[action]
    if status not in allowed:
        raise TransitionError(f"cannot {action} a rollout that is {status}")
    return to
