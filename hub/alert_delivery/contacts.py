"""The contacts file: escalation levels in YAML or JSON, validated with errors that name the
file and the key (``levels.1.email: ...``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from hub.alert_delivery.escalation import Contact

Email = Annotated[str, StringConstraints(pattern=r"^[^@\s,<>]{1,64}@[A-Za-z0-9.-]{1,190}$")]


class ContactsError(ValueError):
    """A contacts file that cannot be used; the message names the file and the key."""


class _ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=100)
    email: Email | None = None
    webhook: int | None = Field(default=None, ge=1, description="webhook subscription id")
    delay_s: float = Field(ge=0, le=24 * 3600)


class _ContactsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    levels: list[_ContactIn] = Field(min_length=1, max_length=20)


def parse_contacts(text: str, *, source: str) -> tuple[Contact, ...]:
    """The levels in a contacts file's ``text`` (YAML, of which JSON is a part).

    Raises ContactsError naming ``source`` and the key: a level without e-mail or webhook,
    a first level with a delay, an unknown key, a malformed address.
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContactsError(f"{source}: not YAML or JSON: {exc}") from exc
    try:
        parsed = _ContactsIn.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise ContactsError(f"{source}: {where}: {first['msg']}") from exc
    levels = tuple(Contact(c.name, c.email, c.webhook, c.delay_s) for c in parsed.levels)
    for i, c in enumerate(levels):
        if c.email is None and c.webhook is None:
            raise ContactsError(f"{source}: levels.{i}: needs an email or a webhook")
    if levels[0].delay_s != 0:
        raise ContactsError(f"{source}: levels.0.delay_s: the first level is told at once (0)")
    return levels


def dump_contacts(levels: Sequence[Contact]) -> str:
    """Levels as the JSON a contacts file may hold (the inverse of :func:`parse_contacts`)."""
    return json.dumps(
        {
            "levels": [
                {"name": c.name, "email": c.email, "webhook": c.webhook, "delay_s": c.delay_s}
                for c in levels
            ]
        },
        indent=2,
        ensure_ascii=False,
    )
