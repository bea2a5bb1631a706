"""Settings of the hub's HTTP face: limits, retention and rate limits, validated once.

One part of :class:`hub.settings.HubSettings` (its ``api`` field, ``TRYGG_API_*`` variables);
passed to ``create_app(api_config=...)``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from hub.api.client_ip import parse_networks
from hub.api.geo import BBox
from hub.settings_base import FrozenSettings, comma_list
from hub.web.tiles import tile_origin
from hub.webhook_targets import TargetPolicy

# Who may read the OpenAPI document (/openapi.json, /docs) and the Prometheus /metrics:
# anyone, callers with an operator's (or admin's) API token, or nobody.
Access = Literal["public", "operator", "off"]

# Given in the environment as comma-separated text, not JSON.
CommaList = Annotated[tuple[str, ...], NoDecode]


class ApiConfig(FrozenSettings):
    model_config = SettingsConfigDict(env_prefix="TRYGG_API_")

    max_body_bytes: int = Field(default=64 * 1024, gt=0, description="Largest JSON or form body.")
    photo_max_bytes: int = Field(
        default=5 * 1024 * 1024, gt=0, description="Largest crew photo upload."
    )
    photo_types: CommaList = Field(
        default=("image/jpeg", "image/png", "image/webp"),
        description="Image types a crew photo may have (comma-separated).",
    )
    contact_retention_days: float = Field(
        default=30.0,
        gt=0,
        description="GDPR: a citizen's name, e-mail and phone are deleted this long after "
        "the ticket closes.",
    )
    login_ttl_hours: float = Field(default=12.0, gt=0, description="Lifetime of a login token.")
    anon_per_minute: float = Field(
        default=120.0, gt=0, description="Anonymous requests per minute per client address."
    )
    anon_burst: int = Field(
        default=60, gt=0, description="Anonymous requests allowed in one burst."
    )
    post_per_minute: float = Field(
        default=60.0, gt=0, description="Writing requests per minute per client address."
    )
    post_burst: int = Field(default=30, gt=0, description="Writing requests allowed in one burst.")
    jurisdiction_id: str = Field(default="solna.se", description="Open311 jurisdiction id.")
    agency: str = Field(
        default="Solna stad", description="Open311 agency name on service requests."
    )
    open311_window_days: int = Field(
        default=90, gt=0, description="How far back Open311 lists service requests."
    )
    trusted_proxies: CommaList = Field(
        default=(),
        description="Reverse proxies whose X-Forwarded-For is believed: addresses or CIDR "
        "networks (comma-separated). Empty: the direct peer is the client.",
    )
    docs_access: Access = Field(
        default="public",
        description="Who may read /openapi.json and /docs: public, operator or off.",
    )
    metrics_access: Access = Field(
        default="public",
        description="Who may read the Prometheus /metrics: public, operator or off.",
    )
    webhook_allow: CommaList = Field(
        default=(),
        description="Webhook receivers allowed although private, loopback or link-local: "
        "CIDRs, addresses or host names (comma-separated).",
    )
    city_bounds: str = Field(
        default="17.93,59.33,18.07,59.40",
        description="The city's area as minLon,minLat,maxLon,maxLat; reports outside it "
        "are refused.",
    )
    stream_poll_s: float = Field(
        default=1.0, gt=0, le=60, description="How often the live ticket stream looks for changes."
    )
    tile_url: str = Field(
        default="",
        description="The crew map's tile server, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png "
        "(the city's choice; its origin alone is added to the page's CSP). Empty: no base map.",
    )
    tile_attribution: str = Field(
        default="", max_length=200, description="The tile server's required attribution text."
    )
    webhook_in_flight: int = Field(
        default=1, gt=0, description="Webhook posts in flight per receiver."
    )

    @field_validator("photo_types", "trusted_proxies", "webhook_allow", mode="before")
    @classmethod
    def split_commas(cls, value: object) -> object:
        return comma_list(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        parse_networks(value)
        return value

    @field_validator("webhook_allow")
    @classmethod
    def _targets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        TargetPolicy.parse(value)
        return value

    @field_validator("city_bounds")
    @classmethod
    def _bounds(cls, value: str) -> str:
        BBox.parse(value)
        return value

    @field_validator("tile_url")
    @classmethod
    def _tiles(cls, value: str) -> str:
        if value:
            tile_origin(value)
        return value

    @property
    def bounds(self) -> BBox:
        return BBox.parse(self.city_bounds)

    @property
    def webhook_policy(self) -> TargetPolicy:
        return TargetPolicy.parse(self.webhook_allow)

    @property
    def contact_retention(self) -> timedelta:
        return timedelta(days=self.contact_retention_days)
