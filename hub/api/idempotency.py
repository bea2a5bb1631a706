"""``Idempotency-Key``: a crew action sent twice (an offline queue retrying) is applied once.

The first answer to a key is stored with the caller and the request it belonged to; the same
key again gets that answer back (``Idempotent-Replayed: true``) and changes nothing. A key
reused for another request is refused. Keys older than :data:`KEEP` are forgotten.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Final

from fastapi import Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.db import IdempotencyKey

KEEP: Final = timedelta(days=7)
KeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Any unique text (e.g. a UUID): the request is applied at most once",
    ),
]


def replay(db: Session, *, actor: str, key: str | None, request: str) -> JSONResponse | None:
    """The stored answer for ``key``, None if it is new; 409 if it belonged to another request."""
    if key is None:
        return None
    row = db.get(IdempotencyKey, (actor, key))
    if row is None:
        return None
    if row.request != request:
        raise HTTPException(409, detail="this Idempotency-Key was used for another request")
    return JSONResponse(
        json.loads(row.body), status_code=row.status_code, headers={"Idempotent-Replayed": "true"}
    )


def remember(
    db: Session,
    *,
    actor: str,
    key: str | None,
    request: str,
    status_code: int,
    body: BaseModel,
    now: datetime,
) -> JSONResponse | None:
    """Store the answer in the caller's transaction; if a twin got there first, its answer."""
    if key is None:
        return None
    db.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.actor == actor, IdempotencyKey.created_at < now - KEEP
        )
    )
    db.add(
        IdempotencyKey(
            actor=actor,
            key=key,
            request=request,
            status_code=status_code,
            body=body.model_dump_json(),
            created_at=now,
        )
    )
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        return replay(db, actor=actor, key=key, request=request)
    return None
