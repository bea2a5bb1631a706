"""Rollouts in SQL: create one from a plan, load it as a :class:`plan.RolloutView`, apply a
:class:`plan.Decision` (queueing ``install_release`` in the command outbox), record the
devices' reports, and the operators' pause, resume and abort.

Everything here works on a caller's SQL session, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import audit, commands, registry
from hub.db import Asset, Device, DeviceCommand, Release, Rollout, RolloutDevice, RolloutStage
from hub.places_store import list_places
from hub.rollout import plan
from trygg import contract as c

INSTALL: Final = "install_release"


class RolloutError(ValueError):
    """A rollout cannot be made or changed; the message says why (nothing changed)."""


class RolloutNotFoundError(RolloutError):
    """No such rollout or release."""


@dataclass(frozen=True, slots=True)
class Progress:
    """One rollout with its stages' counts per state, for the API, CLI and page."""

    rollout: Rollout
    release: Release
    stages: tuple[tuple[RolloutStage, dict[str, int]], ...]
    devices: tuple[RolloutDevice, ...]


def fleet(s: Session, *, device_class: str | None = None) -> list[plan.FleetDevice]:
    """Registered devices (not retired), with the named places their assets stand in."""
    devices = [
        d for d in registry.devices(s) if device_class is None or d.device_class == device_class
    ]
    places = list_places(s)
    where: dict[str, set[str]] = {}
    if places:
        for device_id, lat, lon in s.execute(select(Asset.device_id, Asset.lat, Asset.lon)):
            for p in places:
                if p.contains(lat, lon):
                    where.setdefault(device_id, set()).add(p.name)
    return [plan.FleetDevice(d.id, d.site, frozenset(where.get(d.id, ()))) for d in devices]


def create(
    s: Session,
    *,
    release_id: str,
    specs: Sequence[plan.StageSpec],
    failure_share: float,
    deadline_s: float,
    actor: str,
    now: datetime,
    device_class: str | None = None,
) -> Rollout:
    """A running rollout of ``release_id`` in the stages ``specs`` ask for. RolloutError when
    the release is unknown, another rollout is still open (two could tell one pole to
    install two releases), or the stages cannot be planned."""
    if s.get(Release, release_id) is None:
        raise RolloutNotFoundError(f"no release {release_id}")
    if deadline_s <= 0:
        raise RolloutError("the deadline must be positive")
    busy = s.scalars(
        select(Rollout.id).where(Rollout.status.in_(sorted(plan.OPEN_STATUSES)))
    ).first()
    if busy is not None:
        raise RolloutError(f"rollout {busy} is still open: finish or abort it first")
    try:
        stages = plan.plan_stages(
            specs, fleet(s, device_class=device_class), failure_share=failure_share
        )
    except plan.PlanError as exc:
        raise RolloutError(str(exc)) from exc
    rollout = Rollout(
        release_id=release_id,
        status="running",
        current=0,
        failure_share=failure_share,
        deadline_s=deadline_s,
        reason="",
        created_at=now,
        created_by=actor[:64],
        updated_at=now,
    )
    s.add(rollout)
    s.flush()
    for i, st in enumerate(stages):
        s.add(
            RolloutStage(
                rollout_id=rollout.id,
                position=i,
                name=st.name[:64],
                max_failures=st.max_failures,
                started_at=now if i == 0 else None,
            )
        )
        for device in st.devices:
            s.add(
                RolloutDevice(
                    rollout_id=rollout.id,
                    device_id=device,
                    stage=i,
                    state="pending",
                    reason="",
                    reported_ms=0,
                    updated_at=now,
                )
            )
    audit.record(
        s,
        actor=actor,
        action="rollout.create",
        target=f"rollout:{rollout.id}",
        now=now,
        after={
            "release": release_id,
            "stages": [{"name": st.name, "devices": len(st.devices)} for st in stages],
            "failure_share": failure_share,
            "deadline_s": deadline_s,
        },
    )
    return rollout


def _stages(s: Session, rollout_id: int) -> list[RolloutStage]:
    return list(
        s.scalars(
            select(RolloutStage)
            .where(RolloutStage.rollout_id == rollout_id)
            .order_by(RolloutStage.position)
        )
    )


def _devices(s: Session, rollout_id: int) -> list[RolloutDevice]:
    return list(
        s.scalars(
            select(RolloutDevice)
            .where(RolloutDevice.rollout_id == rollout_id)
            .order_by(RolloutDevice.stage, RolloutDevice.device_id)
        )
    )


def view(s: Session, rollout: Rollout) -> plan.RolloutView:
    """The rollout as the state machine sees it, with each device's running release (its
    last birth) and a refusal of its install command, if any."""
    rows = _devices(s, rollout.id)
    ids = [r.device_id for r in rows]
    found = s.execute(select(Device.id, Device.release).where(Device.id.in_(ids)))
    running: dict[str, str | None] = {row[0]: row[1] for row in found}
    command_ids = [r.command_id for r in rows if r.command_id]
    refused = {
        cmd.command_id: cmd.message or "refused"
        for cmd in s.scalars(
            select(DeviceCommand).where(
                DeviceCommand.command_id.in_(command_ids),
                DeviceCommand.done_at.is_not(None),
                DeviceCommand.ok.is_(False),
            )
        )
    }
    return plan.RolloutView(
        release=rollout.release_id,
        status=rollout.status,  # type: ignore[arg-type]  # written only from RolloutStatus
        current=rollout.current,
        deadline=timedelta(seconds=rollout.deadline_s),
        stages=tuple(plan.StageView(st.name, st.max_failures) for st in _stages(s, rollout.id)),
        devices=tuple(
            plan.DeviceProgress(
                device=r.device_id,
                stage=r.stage,
                state=r.state,  # type: ignore[arg-type]  # written only from DeviceState
                sent_at=r.sent_at,
                reported_ms=r.reported_ms,
                running=running.get(r.device_id),
                command_failed=refused.get(r.command_id) if r.command_id else None,
            )
            for r in rows
        ),
    )


def apply(s: Session, rollout: Rollout, decision: plan.Decision, *, now: datetime) -> None:
    """Write ``decision``: device states, ``install_release`` queued for each device to
    tell, finished stages, the next stage started, the rollout's status."""
    rows = {r.device_id: r for r in _devices(s, rollout.id)}
    for u in decision.updates:
        row = rows[u.device]
        row.state, row.reason, row.updated_at = u.state, u.reason[:300], now
    for device in decision.send:
        cmd = commands.queue(
            s,
            device=device,
            name=INSTALL,
            args={"release": rollout.release_id},
            now=now,
            reason=f"rollout {rollout.id}",
        )
        row = rows[device]
        row.state, row.command_id, row.sent_at, row.updated_at = "sent", cmd.command_id, now, now
    stages = _stages(s, rollout.id)
    for i in decision.finished:
        stages[i].finished_at = now
    if decision.current != rollout.current and stages[decision.current].started_at is None:
        stages[decision.current].started_at = now
    if decision.status != rollout.status or decision.current != rollout.current:
        rollout.updated_at = now
    if decision.reason:
        rollout.reason = decision.reason[:300]
    rollout.status, rollout.current = decision.status, decision.current


def tick(s: Session, *, now: datetime) -> list[tuple[Rollout, plan.Decision]]:
    """One step of every open rollout; returns those that changed with their decisions."""
    open_rollouts = s.scalars(
        select(Rollout)
        .where(Rollout.status.in_(sorted(plan.OPEN_STATUSES)))
        .order_by(Rollout.id)
        .with_for_update(skip_locked=True)  # several hubs: each rollout stepped by one
    ).all()
    out = []
    for rollout in open_rollouts:
        v = view(s, rollout)
        decision = plan.step(v, now)
        if decision.changes(v):
            apply(s, rollout, decision, now=now)
            out.append((rollout, decision))
    return out


def record_report(s: Session, report: c.ReleaseReport, *, device: str, now: datetime) -> bool:
    """Take ``device``'s report into its newest rollout of that release; False when it is in
    none, or the report is older than the one taken (the device's clock decides)."""
    row = s.scalars(
        select(RolloutDevice)
        .join(Rollout, Rollout.id == RolloutDevice.rollout_id)
        .where(RolloutDevice.device_id == device, Rollout.release_id == report.release)
        .order_by(Rollout.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return False
    before = plan.DeviceProgress(
        device=device,
        stage=row.stage,
        state=row.state,  # type: ignore[arg-type]  # written only from DeviceState
        reported_ms=row.reported_ms,
    )
    after = plan.apply_report(before, state=report.state, ts_ms=report.ts)
    if after is None:
        return False
    row.state, row.reported_ms, row.updated_at = after.state, after.reported_ms, now
    row.reason = report.reason[:300]
    return True


def act(s: Session, *, rollout_id: int, action: str, actor: str, now: datetime) -> Rollout:
    """Pause, resume or abort; aborting also withdraws install commands not yet answered.
    RolloutError when there is no such rollout or the action does not apply."""
    rollout = s.get(Rollout, rollout_id, with_for_update=True)
    if rollout is None:
        raise RolloutNotFoundError(f"no rollout {rollout_id}")
    before = rollout.status
    try:
        rollout.status = plan.act(rollout.status, action)  # type: ignore[arg-type]
    except plan.TransitionError as exc:
        raise RolloutError(str(exc)) from exc
    rollout.updated_at = now
    rollout.reason = f"{action} by {actor}"[:300]
    if action == "abort":
        ids = [r.command_id for r in _devices(s, rollout.id) if r.command_id]
        for cmd in s.scalars(
            select(DeviceCommand).where(
                DeviceCommand.command_id.in_(ids), DeviceCommand.done_at.is_(None)
            )
        ):
            cmd.done_at, cmd.ok, cmd.message = now, False, "withdrawn: the rollout was aborted"
    audit.record(
        s,
        actor=actor,
        action=f"rollout.{action}",
        target=f"rollout:{rollout.id}",
        now=now,
        before={"status": before},
        after={"status": rollout.status},
    )
    return rollout


def progress(s: Session, rollout_id: int) -> Progress:
    """The rollout with its stages' counts and every device's row; RolloutNotFoundError."""
    rollout = s.get(Rollout, rollout_id)
    if rollout is None:
        raise RolloutNotFoundError(f"no rollout {rollout_id}")
    release = s.get(Release, rollout.release_id)
    if release is None:  # a foreign key keeps this from happening
        raise RolloutNotFoundError(f"no release {rollout.release_id}")
    devices = _devices(s, rollout.id)
    stages = []
    for st in _stages(s, rollout.id):
        counts: dict[str, int] = {}
        for d in devices:
            if d.stage == st.position:
                counts[d.state] = counts.get(d.state, 0) + 1
        stages.append((st, counts))
    return Progress(rollout, release, tuple(stages), tuple(devices))


def rollouts(s: Session, *, limit: int = 100) -> list[Rollout]:
    """The newest rollouts first."""
    return list(s.scalars(select(Rollout).order_by(Rollout.id.desc()).limit(limit)))


def summary(p: Progress) -> dict[str, Any]:
    """The share of devices healthy, failed and waiting over the whole rollout."""
    total = len(p.devices)
    healthy = sum(1 for d in p.devices if d.state == "healthy")
    failed = sum(1 for d in p.devices if d.state in plan.FAILED)
    return {"devices": total, "healthy": healthy, "failed": failed,
            "waiting": total - healthy - failed}  # fmt: skip
