"""Settings of alert delivery (``TRYGG_ALERT_*``): CAP sender, contacts file, SMTP server.

One part of :class:`hub.settings.HubSettings` (its ``alert_delivery`` field).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from hub.settings_base import FrozenSettings


class DeliveryConfig(FrozenSettings):
    model_config = SettingsConfigDict(env_prefix="TRYGG_ALERT_")

    cap_sender: str = Field(
        default="trygg.solna.se",
        description="CAP <sender> of alert messages: a domain-style id, no spaces or @.",
    )
    contacts_file: Path | None = Field(
        default=None,
        description="YAML or JSON file of escalation levels (docs/alerts-delivery.md); "
        "unset: no e-mail, alert webhooks only.",
    )
    smtp_host: str | None = Field(default=None, description="SMTP server for alert e-mail.")
    smtp_port: int = Field(default=587, gt=0, lt=65536, description="SMTP server port.")
    smtp_starttls: bool = Field(
        default=True, description="Upgrade the SMTP connection with STARTTLS (required if on)."
    )
    smtp_username: str | None = Field(default=None, description="SMTP user name.")
    smtp_password: str | None = Field(
        default=None, description="SMTP password (secret).", repr=False
    )
    smtp_from: str = Field(default="trygg@solna.se", description="From address of alert e-mail.")
    smtp_timeout_s: float = Field(default=10.0, gt=0, description="SMTP connect/send timeout.")
    retry_base_s: float = Field(
        default=2.0, gt=0, description="First wait before an alert e-mail is sent again."
    )
    retry_cap_s: float = Field(
        default=60.0, gt=0, description="Longest wait between alert e-mail attempts."
    )
    retry_attempts: int = Field(
        default=8, gt=0, description="Attempts per alert e-mail before it is given up."
    )
