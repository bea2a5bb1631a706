"""Settings of the hub's HTTP face: limits, retention and rate limits, validated once.

Passed to ``create_app(api_config=...)``; :func:`from_env` reads ``TRYGG_API_*`` variables
for the hub process (never at import time).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from typing import Any, Final

from hub.api.client_ip import parse_networks
from hub.webhook_targets import TargetPolicy

# Who may read the OpenAPI document (/openapi.json, /docs) and the Prometheus /metrics:
# anyone, callers with an operator's (or admin's) API token, or nobody.
ACCESS: Final = ("public", "operator", "off")


@dataclass(frozen=True, slots=True)
class ApiConfig:
    max_body_bytes: int = 64 * 1024  # JSON and form bodies
    photo_max_bytes: int = 5 * 1024 * 1024
    photo_types: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp")
    # GDPR: a citizen's name, e-mail and phone are deleted this long after the ticket closes.
    contact_retention_days: float = 30.0
    login_ttl_hours: float = 12.0
    # Token buckets per client address: (requests per minute, burst).
    anon_per_minute: float = 120.0
    anon_burst: int = 60
    post_per_minute: float = 60.0
    post_burst: int = 30
    jurisdiction_id: str = "solna.se"
    agency: str = "Solna stad"
    open311_window_days: int = 90
    # Reverse proxies whose X-Forwarded-For is believed (addresses or CIDR networks).
    trusted_proxies: tuple[str, ...] = ()
    docs_access: str = "public"
    metrics_access: str = "public"
    # Webhook receivers allowed although private, loopback or link-local: CIDRs, addresses
    # or host names (see hub.webhook_targets); and posts in flight per receiver.
    webhook_allow: tuple[str, ...] = ()
    webhook_in_flight: int = 1

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and value <= 0:
                raise ValueError(f"api config {f.name} must be positive, got {value}")
        TargetPolicy.parse(self.webhook_allow)  # a bad allow-list entry fails at start-up
        for name in ("docs_access", "metrics_access"):
            if getattr(self, name) not in ACCESS:
                raise ValueError(f"api config {name} must be one of {', '.join(ACCESS)}")
        parse_networks(self.trusted_proxies)

    @property
    def webhook_policy(self) -> TargetPolicy:
        return TargetPolicy.parse(self.webhook_allow)

    @property
    def contact_retention(self) -> timedelta:
        return timedelta(days=self.contact_retention_days)


def from_env(environ: dict[str, str] | None = None, **overrides: Any) -> ApiConfig:
    """ApiConfig from ``TRYGG_API_<FIELD>`` variables, then ``overrides``."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    for f in fields(ApiConfig):
        raw = env.get(f"TRYGG_API_{f.name.upper()}")
        if raw is None:
            continue
        default = getattr(ApiConfig(), f.name)
        if isinstance(default, tuple):
            values[f.name] = tuple(x.strip() for x in raw.split(",") if x.strip())
        else:
            values[f.name] = type(default)(raw)
    return replace(ApiConfig(**values), **overrides)
