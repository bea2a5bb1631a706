"""Settings of releases and rollouts (``TRYGG_RELEASE_*``): where releases are stored, the
keys that must have signed them, the poles' HTTPS listener, and the rollout worker.

One part of :class:`hub.settings.HubSettings` (its ``release`` field).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from hub.settings_base import FrozenSettings, comma_list

Paths = Annotated[tuple[Path, ...], NoDecode]


class ReleaseConfig(FrozenSettings):
    model_config = SettingsConfigDict(env_prefix="TRYGG_RELEASE_")

    dir: Path = Field(
        default=Path("state/releases"),
        description="Where published releases are kept, each file under its SHA-256.",
    )
    keys: Paths = Field(
        default=(),
        description="The city's release public keys (PEM files, comma-separated; two while "
        "a key is replaced). A release is stored only if one of them signed it; none: "
        "publishing is refused.",
    )
    max_bytes: int = Field(
        default=1024 * 1024 * 1024, gt=0, description="Largest release upload (the whole tar)."
    )
    host: str = Field(
        default="127.0.0.1",
        description="Address the poles' release listener (HTTPS) listens on.",
    )
    port: int = Field(
        default=0,
        ge=0,
        lt=65536,
        description="Port of the poles' release listener, HTTPS with client certificates; "
        "0: not served.",
    )
    cert_file: Path | None = Field(
        default=None, description="The release listener's TLS certificate (chain, PEM)."
    )
    key_file: Path | None = Field(default=None, description="The release listener's TLS key.")
    ca_file: Path | None = Field(
        default=None,
        description="CA certificate(s) a pole's client certificate must lead to (the fleet "
        "CA); default: TRYGG_MQTT_CA_FILE.",
    )
    rollout_tick_s: float = Field(
        default=2.0, gt=0, le=3600, description="How often the rollout worker steps rollouts."
    )
    rollout_deadline_s: float = Field(
        default=1800.0,
        gt=0,
        description="Default time a told pole has to report a final state before it counts "
        "as failed.",
    )

    @field_validator("keys", mode="before")
    @classmethod
    def split_commas(cls, value: object) -> object:
        return comma_list(value)
