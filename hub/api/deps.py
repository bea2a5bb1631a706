"""Shared dependencies of the API routers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from trygg.clock import Clock


@dataclass
class HubContext:
    sessions: sessionmaker[Session]
    clock: Clock
    extra: dict[str, Any] = field(default_factory=dict)


def get_context(request: Request) -> HubContext:
    ctx: HubContext = request.app.state.hub
    return ctx


def get_session(request: Request) -> Iterator[Session]:
    with get_context(request).sessions() as session:
        yield session


Context = Annotated[HubContext, Depends(get_context)]
DbSession = Annotated[Session, Depends(get_session)]
