"""Who hears of an alert, and when: ordered contact levels with delays. Pure.

Level 0 is told when an alert is raised; level ``n`` when nobody acknowledged the alert
within the delays of levels 1..n (the alert's ``escalationLevel`` is then ``n``). When an
alert is acknowledged or resolved, everyone told so far hears it, so nobody keeps acting on
an alert that is handled. The contacts come from a YAML or JSON file
(:func:`parse_contacts`), validated with errors that name the file and the key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from hub.alert_delivery.notice import AlertNotice

Email = Annotated[str, StringConstraints(pattern=r"^[^@\s,<>]{1,64}@[A-Za-z0-9.-]{1,190}$")]


class ContactsError(ValueError):
    """A contacts file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class Contact:
    """One escalation level: who, by e-mail and/or which webhook subscription, after what delay."""

    name: str
    email: str | None
    webhook: int | None
    delay_s: float


@dataclass(frozen=True, slots=True)
class Recipients:
    """What one notice goes to: the contacts' e-mails and webhook subscription ids."""

    emails: tuple[str, ...]
    webhooks: tuple[int, ...]


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


def level_due(levels: Sequence[Contact], *, raised_at: datetime, now: datetime) -> int:
    """The escalation level an unacknowledged alert raised at ``raised_at`` has reached."""
    level, waited = 0, timedelta(0)
    for i, c in enumerate(levels[1:], start=1):
        waited += timedelta(seconds=c.delay_s)
        if now - raised_at < waited:
            break
        level = i
    return level


def recipients(levels: Sequence[Contact], notice: AlertNotice) -> Recipients:
    """Whom ``notice`` goes to: the new level when raised or escalated, all told so far
    when acknowledged or resolved. A level beyond the last contact means the last one."""
    if not levels:
        return Recipients((), ())
    top = min(notice.escalation_level, len(levels) - 1)
    if notice.status in ("raised", "escalated"):
        chosen: Sequence[Contact] = [levels[top]]
    else:
        chosen = levels[: top + 1]
    emails = tuple(dict.fromkeys(c.email for c in chosen if c.email is not None))
    hooks = tuple(dict.fromkeys(c.webhook for c in chosen if c.webhook is not None))
    return Recipients(emails, hooks)


def contact_webhooks(levels: Sequence[Contact]) -> frozenset[int]:
    """Webhook subscriptions named by a level: they get an alert only through its level."""
    return frozenset(c.webhook for c in levels if c.webhook is not None)
