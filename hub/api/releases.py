"""``/api/v1/releases``: publish a signed release (admins) and list them (operators).

A release is uploaded as a tar (plain or gzip) of its bundle folder, as ``trygg release
publish`` sends it. It is verified against ``TRYGG_RELEASE_KEYS`` before anything is
stored; a refusal says why and stores nothing.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from hub.api import errors
from hub.api.deps import Context, DbSession
from hub.api.security import Admin, Operator
from hub.db import Release
from hub.releases import store, upload
from hub.releases.config import ReleaseConfig
from trygg import release as r
from trygg.clock import to_ms

UPLOAD_PATH: Final = "/api/v1/releases"
router = APIRouter(tags=["releases"], responses=errors.AUTHED)
ReleaseId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{64}$", description="Release id")]


class FileOut(BaseModel):
    path: str
    sha256: str
    size: int
    role: str


class ReleaseOut(BaseModel):
    id: str = Field(description="SHA-256 of the signed manifest")
    version: str
    created: datetime
    published_at: datetime
    published_by: str
    notes: str
    size: int = Field(description="Bytes of all its files")
    files: list[FileOut]


def release_out(row: Release) -> ReleaseOut:
    return ReleaseOut(
        id=row.id,
        version=row.version,
        created=row.created,
        published_at=row.published_at,
        published_by=row.published_by,
        notes=row.notes,
        size=row.size,
        files=[FileOut.model_validate(f) for f in row.files.get("files", [])],
    )


def _receive_to(path: Path) -> Any:
    return path.open("wb")


def _keys(config: ReleaseConfig) -> list[Ed25519PublicKey]:
    """The configured release keys; 409 when there is none or one is unusable (publishing
    cannot work until an admin fixes the hub's configuration)."""
    try:
        keys = r.load_public_keys(config.keys)
    except r.ReleaseError as exc:
        raise HTTPException(409, detail=f"the hub's release keys are unusable: {exc}") from exc
    if not keys:
        raise HTTPException(409, detail="no release public key configured (TRYGG_RELEASE_KEYS)")
    return keys


def _process(
    ctx: Context, keys: list[Ed25519PublicKey], tar: Path, scratch: Path, actor: str
) -> tuple[ReleaseOut, bool]:
    config = ctx.releases
    try:
        got = upload.unpack(tar, scratch, max_total=config.max_bytes)
    except upload.UploadError as exc:
        raise HTTPException(400, detail=str(exc)) from exc
    files = store.ReleaseFiles(config.dir)
    with ctx.sessions.begin() as s:
        try:
            done = store.publish(
                s, files, got, keys=keys, actor=actor, now_ms=to_ms(ctx.clock.now())
            )
        except store.PublishError as exc:
            raise HTTPException(400, detail=f"release refused: {exc}") from exc
        return release_out(done.release), done.new


@router.post(
    "/releases",
    response_model=ReleaseOut,
    status_code=201,
    responses={
        200: {"description": "The same release was published before"},
        409: {"model": errors.ErrorOut, "description": "The hub has no usable release key"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            # Bytes of a tar or .tar.gz; the type header is not looked at (tarfile detects it).
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def publish(request: Request, ctx: Context, who: Admin) -> JSONResponse:
    """Publish a release: the body is a tar (or .tar.gz) of the bundle folder
    (``manifest.json``, ``manifest.sig``, ``files/<sha256>``). 201 when stored, 200 when the
    same release was stored before, 400 when refused (the reason says why), 409 when the hub
    has no usable release key."""
    config = ctx.releases
    keys = await asyncio.to_thread(_keys, config)
    files = store.ReleaseFiles(config.dir)
    scratch = await asyncio.to_thread(files.scratch)
    try:
        tar = scratch / "upload.tar"
        out = await asyncio.to_thread(_receive_to, tar)
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > config.max_bytes:
                    raise HTTPException(413, detail=f"larger than {config.max_bytes} bytes")
                await asyncio.to_thread(out.write, chunk)
        finally:
            await asyncio.to_thread(out.close)
        if size == 0:
            raise HTTPException(400, detail="empty body: send the bundle as a tar")
        blobs = scratch / "blobs"
        await asyncio.to_thread(blobs.mkdir)
        body, new = await asyncio.to_thread(_process, ctx, keys, tar, blobs, who.name)
    finally:
        await asyncio.to_thread(upload.clear, scratch)
    return JSONResponse(body.model_dump(mode="json"), status_code=201 if new else 200)


@router.get("/releases", response_model=list[ReleaseOut])
def list_releases(db: DbSession, _who: Operator) -> list[ReleaseOut]:
    """Published releases, the newest first."""
    return [release_out(row) for row in store.releases(db)]


@router.get("/releases/{release_id}", response_model=ReleaseOut, responses=errors.NOT_FOUND)
def show_release(db: DbSession, _who: Operator, release_id: ReleaseId) -> ReleaseOut:
    row = db.get(Release, release_id)
    if row is None:
        raise HTTPException(404, detail=f"no release {release_id}")
    return release_out(row)
