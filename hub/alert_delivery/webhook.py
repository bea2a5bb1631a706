"""Alert states into the webhook outbox, as JSON or CAP 1.2, for the existing lanes to post.

A receiver subscribes to ``alert.*`` events with ``format`` ``json`` or ``cap``
(``POST /api/v1/webhooks``); :func:`enqueue` adds one outbox row per subscription that
wants the notice's event, with the exact body, and :class:`~hub.webhook_worker.WebhookWorker`
signs and delivers it with its retries, one lane per receiver. A subscription named by an
escalation level gets an alert only when its level is told.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.alert_delivery import cap
from hub.alert_delivery.notice import AlertNotice
from hub.db import WebhookDelivery, WebhookSubscription
from hub.webhooks import ALERT_EVENTS, JSON_MEDIA_TYPE


def json_payload(notice: AlertNotice) -> dict[str, Any]:
    """The JSON body's fields (the outbox adds ``delivery_id``)."""
    return {
        "event": ALERT_EVENTS[notice.status],
        "occurred_at": notice.changed_at.isoformat(),
        "alert": notice.to_json(),
    }


def json_body(notice: AlertNotice, *, delivery_id: int) -> bytes:
    """The JSON body as a receiver gets it (the same encoding as ticket events)."""
    body = {"delivery_id": delivery_id, **json_payload(notice)}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def enqueue(
    s: Session,
    notice: AlertNotice,
    *,
    source: cap.CapSource,
    now: datetime,
    escalation_only: Collection[int] = (),
    told: Collection[int] = (),
) -> int:
    """Queue ``notice`` for every active subscription to its event; returns rows added.

    Subscriptions in ``escalation_only`` get it only if also in ``told`` (the level's
    webhooks). A notice queued again for the same subscription is skipped.
    """
    event = ALERT_EVENTS[notice.status]
    subs = s.scalars(
        select(WebhookSubscription)
        .where(WebhookSubscription.active.is_(True))
        .order_by(WebhookSubscription.id)
    )
    have = set(
        s.scalars(
            select(WebhookDelivery.subscription_id).where(WebhookDelivery.alert_key == notice.key)
        )
    )
    added = 0
    xml: str | None = None
    for sub in subs:
        if sub.id in have or event not in sub.events.get("types", ()):
            continue
        if sub.id in escalation_only and sub.id not in told:
            continue
        if sub.events.get("format") == "cap":
            xml = xml or cap.render(notice, source).decode()
            payload, media_type = {"body": xml}, cap.MEDIA_TYPE
        else:
            payload, media_type = json_payload(notice), JSON_MEDIA_TYPE
        s.add(
            WebhookDelivery(
                subscription_id=sub.id,
                history_id=None,
                alert_key=notice.key,
                event=event,
                payload=payload,
                media_type=media_type,
                created_at=now,
                attempts=0,
                next_attempt_at=now,
                last_error="",
            )
        )
        added += 1
    return added
