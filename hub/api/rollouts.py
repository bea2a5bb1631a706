"""``/api/v1/rollouts``: roll a published release out to the fleet in stages, watch each
stage's and each device's progress, and pause, resume or abort (operators)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from hub.api import errors
from hub.api.deps import Context, DbSession
from hub.api.security import Operator
from hub.rollout import plan, store
from trygg.contract import DEVICE_ID_PATTERN, NAME_PATTERN

router = APIRouter(tags=["rollouts"], responses=errors.AUTHED)
RolloutId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Rollout id")]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
DeviceName = Annotated[str, Field(pattern=DEVICE_ID_PATTERN)]


class StageIn(BaseModel):
    """One stage: explicit devices, whole sites, whole places (a district), or the share of
    the fleet reached by its end (0 < share <= 1, filled site by site)."""

    model_config = ConfigDict(extra="forbid")
    name: Name
    devices: list[DeviceName] = Field(default_factory=list, max_length=10_000)
    sites: list[Name] = Field(default_factory=list, max_length=1000)
    places: list[Name] = Field(default_factory=list, max_length=1000)
    share: float | None = Field(default=None, gt=0, le=1)
    max_failures: int | None = Field(default=None, ge=0, description="Overrides failure_share")


class RolloutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    release: str = Field(pattern=r"^[0-9a-f]{64}$")
    stages: list[StageIn] = Field(min_length=1, max_length=20)
    failure_share: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="Share of a stage's devices that may fail before the rollout halts "
        "(rounded down; 0: the first failure halts)",
    )
    deadline_s: float | None = Field(
        default=None,
        gt=0,
        le=7 * 86_400,
        description="A told device's time to report a final state; default: the hub's",
    )
    device_class: Name | None = Field(default=None, description="Only devices of this class")


class StageOut(BaseModel):
    position: int
    name: str
    max_failures: int
    started_at: datetime | None
    finished_at: datetime | None
    devices: int
    counts: dict[str, int] = Field(description="Devices per state")


class DeviceOut(BaseModel):
    device: str
    stage: int
    state: str
    reason: str
    sent_at: datetime | None
    updated_at: datetime


class RolloutOut(BaseModel):
    id: int
    release: str
    version: str
    status: Literal["running", "paused", "halted", "aborted", "done"]
    current_stage: int
    reason: str
    failure_share: float
    deadline_s: float
    created_at: datetime
    created_by: str
    updated_at: datetime
    devices: int
    healthy: int
    failed: int
    waiting: int
    stages: list[StageOut]


class RolloutDetailOut(RolloutOut):
    device_progress: list[DeviceOut]


def _out(p: store.Progress) -> RolloutOut:
    ro = p.rollout
    return RolloutOut(
        id=ro.id,
        release=ro.release_id,
        version=p.release.version,
        status=ro.status,  # type: ignore[arg-type]  # written only from RolloutStatus
        current_stage=ro.current,
        reason=ro.reason,
        failure_share=ro.failure_share,
        deadline_s=ro.deadline_s,
        created_at=ro.created_at,
        created_by=ro.created_by,
        updated_at=ro.updated_at,
        **store.summary(p),
        stages=[
            StageOut(
                position=st.position,
                name=st.name,
                max_failures=st.max_failures,
                started_at=st.started_at,
                finished_at=st.finished_at,
                devices=sum(counts.values()),
                counts=counts,
            )
            for st, counts in p.stages
        ],
    )


def _detail(p: store.Progress) -> RolloutDetailOut:
    devices = [
        DeviceOut(
            device=d.device_id,
            stage=d.stage,
            state=d.state,
            reason=d.reason,
            sent_at=d.sent_at,
            updated_at=d.updated_at,
        )
        for d in p.devices
    ]
    return RolloutDetailOut(**_out(p).model_dump(), device_progress=devices)


def _refused(exc: store.RolloutError) -> HTTPException:
    return HTTPException(404 if isinstance(exc, store.RolloutNotFoundError) else 409, str(exc))


@router.post(
    "/rollouts",
    response_model=RolloutDetailOut,
    status_code=201,
    responses={**errors.NOT_FOUND, 409: {"model": errors.ErrorOut, "description": "Refused"}},
)
def create_rollout(db: DbSession, ctx: Context, who: Operator, body: RolloutIn) -> RolloutDetailOut:
    """Start rolling ``release`` out: the first stage is the canary, told at once; each next
    stage follows when every device of the one before reported a final state, unless the
    failures exceed the allowance (the rollout halts). 409 when another rollout is open or
    the stages cannot be made from the fleet (the reason says why)."""
    specs = [
        plan.StageSpec(
            name=st.name,
            devices=tuple(st.devices),
            sites=tuple(st.sites),
            places=tuple(st.places),
            share=st.share,
            max_failures=st.max_failures,
        )
        for st in body.stages
    ]
    try:
        rollout = store.create(
            db,
            release_id=body.release,
            specs=specs,
            failure_share=body.failure_share,
            deadline_s=body.deadline_s or ctx.releases.rollout_deadline_s,
            actor=who.name,
            now=ctx.clock.now(),
            device_class=body.device_class,
        )
    except store.RolloutError as exc:
        raise _refused(exc) from exc
    db.commit()
    return _detail(store.progress(db, rollout.id))


@router.get("/rollouts", response_model=list[RolloutOut])
def list_rollouts(
    db: DbSession, _who: Operator, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[RolloutOut]:
    """Rollouts, the newest first, with counts per stage."""
    return [_out(store.progress(db, ro.id)) for ro in store.rollouts(db, limit=limit)]


@router.get("/rollouts/{rollout_id}", response_model=RolloutDetailOut, responses=errors.NOT_FOUND)
def show_rollout(db: DbSession, _who: Operator, rollout_id: RolloutId) -> RolloutDetailOut:
    """One rollout with every device's progress."""
    try:
        return _detail(store.progress(db, rollout_id))
    except store.RolloutError as exc:
        raise _refused(exc) from exc


@router.post(
    "/rollouts/{rollout_id}/{action}",
    response_model=RolloutOut,
    responses={**errors.NOT_FOUND, 409: {"model": errors.ErrorOut, "description": "Refused"}},
)
def change_rollout(
    db: DbSession,
    ctx: Context,
    who: Operator,
    rollout_id: RolloutId,
    action: Annotated[Literal["pause", "resume", "abort"], Path()],
) -> RolloutOut:
    """Pause (nobody new is told), resume, or abort (nobody new is told, unanswered install
    commands are withdrawn; poles already on the release stay on it). 409 when the action
    does not apply to the rollout's status."""
    try:
        store.act(db, rollout_id=rollout_id, action=action, actor=who.name, now=ctx.clock.now())
    except store.RolloutError as exc:
        raise _refused(exc) from exc
    db.commit()
    return _out(store.progress(db, rollout_id))
