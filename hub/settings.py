"""Hub settings: one frozen, typed model of every ``TRYGG_*`` variable the hub reads.

Built from keyword arguments (tests, the simulator) or, by the ``trygg hub`` command only,
from the environment through :func:`hub.settings_env.load`; nothing else reads variables.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from hub.alert_delivery.config import DeliveryConfig
from hub.api.config import ApiConfig
from hub.asset_owners import DEFAULT_MAX_PER_DEVICE
from hub.releases.config import ReleaseConfig
from hub.settings_base import FrozenSettings
from trygg.mqtt import MqttSettings, parse_nodes


class HubSettings(FrozenSettings):
    model_config = SettingsConfigDict(env_prefix="TRYGG_")

    mqtt_host: str = Field(default="127.0.0.1", description="MQTT broker host.")
    mqtt_port: int = Field(default=1883, gt=0, lt=65536, description="MQTT broker port.")
    mqtt_fallbacks: str = Field(
        default="",
        description="Further nodes of a clustered broker, host[:port] comma-separated, "
        "tried in turn when the one above is unreachable.",
    )
    mqtt_username: str | None = Field(default=None, description="MQTT user name.")
    mqtt_password: str | None = Field(
        default=None, description="MQTT password (secret).", repr=False
    )
    mqtt_ca_file: Path | None = Field(
        default=None, description="CA certificate that signed the broker's; set for TLS."
    )
    mqtt_cert_file: Path | None = Field(
        default=None, description="Client certificate for MQTT TLS."
    )
    mqtt_key_file: Path | None = Field(default=None, description="Client key for MQTT TLS.")
    client_id: str = Field(default="trygg-hub-1", description="The hub's MQTT client id.")
    share_group: str = Field(
        default="trygg-hub", description="MQTT shared-subscription group the hubs share."
    )
    session_expiry_s: int = Field(
        default=7 * 24 * 3600,
        ge=0,
        description="How long the broker keeps queuing for the hub while it is away.",
    )
    # Several hubs (docs/operations.md, "Several hubs").
    hub_id: str = Field(
        default="",
        max_length=96,
        description="This hub's name among several (its leases' holder); empty: hostname-pid.",
    )
    partitions: int = Field(
        default=0,
        ge=0,
        le=256,
        description="Device partitions shared out among the hubs by leases, one persistent "
        "MQTT session each; 0: one hub ingests every device (no leases). Never change it "
        "while hubs run.",
    )
    lease_ttl_s: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        description="A partition whose hub stops renewing its lease is taken over after this.",
    )
    lease_renew_s: float = Field(
        default=5.0,
        gt=0,
        description="How often a hub renews its leases and looks for partitions to take; "
        "at most half of lease_ttl_s.",
    )
    influx_url: str = Field(default="http://127.0.0.1:8086", description="InfluxDB HTTP address.")
    influx_db: str = Field(default="trygg", description="InfluxDB database (1.x) or DBRP name.")
    influx_username: str | None = Field(default=None, description="InfluxDB user name.")
    influx_password: str | None = Field(
        default=None, description="InfluxDB password (secret).", repr=False
    )
    influx_token: str | None = Field(
        default=None,
        description="InfluxDB 2.x/3.x token for the v1-compatibility API (secret).",
        repr=False,
    )
    influx_raw_rp: str = Field(default="raw", description="Retention policy of raw readings.")
    influx_raw_retention: str = Field(default="90d", description="How long raw readings are kept.")
    # InfluxDB 2.x/3.x refuse DDL over the v1 API: buckets, DBRP mappings and downsampling
    # tasks are made at install time instead (deploy/).
    influx_manage_schema: bool = Field(
        default=True,
        description="Create the database, retention policies and roll-ups (InfluxDB 1.x); "
        "false for 2.x/3.x.",
    )
    database_url: str = Field(
        default="sqlite:///state/hub.sqlite",
        description="SQLAlchemy URL of the tickets database (may hold a password).",
        repr=False,
    )
    api_host: str = Field(default="127.0.0.1", description="Address the HTTP API listens on.")
    api_port: int = Field(default=8080, gt=0, lt=65536, description="Port the HTTP API listens on.")
    batch_max_lines: int = Field(
        default=5000, gt=0, description="Most lines in one InfluxDB write."
    )
    batch_max_delay_s: float = Field(
        default=0.2, gt=0, description="Longest a reading waits for its InfluxDB write."
    )
    registry_open: bool = Field(
        default=False, description="Accept devices not yet registered (demo only)."
    )
    registry_poll_s: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="How often the hub checks the registry for changes (devices registered, "
        "retired or blocked take effect without a restart).",
    )
    offline_grace_s: float = Field(
        default=120.0, ge=0, description="Silence before an offline device raises a ticket."
    )
    tick_s: float = Field(default=5.0, gt=0, description="Period of the rules' clock tick.")
    alert_ack_timeout_s: float = Field(
        default=120.0, gt=0, description="An alert nobody acknowledges this long escalates."
    )
    alert_escalation_chain: int = Field(
        default=3, ge=0, le=20, description="How many times an alert escalates at most."
    )
    crowd_event_interval_s: float = Field(
        default=1.0, gt=0, le=60, description="Crowd reporting interval in an event's zones."
    )
    gauges_s: float = Field(
        default=60.0, gt=0, description="Period of the gauges written to InfluxDB."
    )
    dedup: bool = Field(
        default=True,
        description="Drop repeated readings; false only for the chaos test's control run.",
    )
    spool_dir: Path = Field(
        default=Path("state/spool"), description="Where writes wait while InfluxDB is unreachable."
    )
    spool_max_bytes: int = Field(
        default=512 * 1024 * 1024,
        gt=0,
        description="Spool size at which the hub stops acknowledging (it never drops).",
    )
    dead_letter_max: int = Field(
        default=20_000, gt=0, description="Dead letters kept; counts per reason are kept forever."
    )
    heartbeat_timeouts: str = Field(
        default="",
        description="Heartbeat timeout per device class, e.g. pole=600,camera=120; "
        "else 2.5 x the birth's heartbeat.",
    )
    rebirth_interval_s: float = Field(
        default=60.0, gt=0, description="At most one rebirth request per device per interval."
    )
    receive_maximum: int = Field(
        default=20_000, gt=0, lt=65536, description="Un-acknowledged messages the broker may send."
    )
    command_retry_s: float = Field(
        default=300.0, gt=0, description="Re-send a device command unanswered this long."
    )
    max_assets_per_device: int = Field(
        default=DEFAULT_MAX_PER_DEVICE, gt=0, description="More assets in a birth: too_many_assets."
    )
    cert_watch: str = Field(
        default="",
        description="Certificates and CRLs to warn about before they expire: "
        "':'-separated files or folders (docs/certificates.md).",
    )
    cert_check_s: float = Field(
        default=3600.0, gt=0, description="Period of the certificate check."
    )
    cert_issuing_dir: str = Field(
        default="",
        description="The issuing CA folder with which the hub signs poles' renewed "
        "certificates (docs/certificates.md); empty: the hub signs nothing.",
    )
    cert_lifetime_days: float = Field(
        default=365.0, gt=0, le=825, description="Validity of a certificate the hub signs."
    )
    cert_request_gap_s: float = Field(
        default=60.0, ge=0, description="At most one certificate request per device this often."
    )
    cert_sign_gap_s: float = Field(
        default=86_400.0, ge=0, description="At most one signed certificate per device this often."
    )
    # Supervision and timeouts (docs/supervision.md).
    influx_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Longest wait for one InfluxDB request (write, query, ping).",
    )
    mqtt_keepalive_s: int = Field(
        default=60,
        gt=0,
        lt=65536,
        description="MQTT keep-alive; a silent broker is noticed after about 1.5 times this.",
    )
    sql_connect_timeout_s: float = Field(
        default=10.0, gt=0, description="The SQL database's connect timeout."
    )
    sql_statement_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="The SQL statement timeout (SQLite: how long to wait for a lock).",
    )
    sql_pool_timeout_s: float = Field(
        default=10.0, gt=0, description="The wait for a free pooled SQL connection."
    )
    api_deadline_s: float = Field(
        default=15.0, gt=0, description="Every API request answers within this, else 503."
    )
    health_check_s: float = Field(
        default=5.0, gt=0, description="How often SQL, InfluxDB and the broker are checked."
    )
    health_timeout_s: float = Field(
        default=3.0, gt=0, description="A dependency check gives up after this."
    )
    degraded_grace_s: float = Field(
        default=120.0, ge=0, description="A trouble lasting this long raises hubDegraded."
    )
    restart_first_s: float = Field(
        default=0.5, gt=0, description="A failed worker's first back-off."
    )
    restart_cap_s: float = Field(
        default=30.0, gt=0, description="A failed worker's longest back-off."
    )
    # Work done once across all hubs, and alerts made by other hubs (docs/operations.md).
    duty_lease_s: float = Field(
        default=15.0,
        ge=0.3,
        le=3600,
        description="Lease time of each once-only duty (webhooks, alert delivery, gauges, commands, "
        "purge, certificates, fleet-wide rules): a dead hub's duties move within this plus a third.",
    )
    alert_relay_s: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="How often a hub looks for alert changes other hubs made (its operator "
        "pages hear them within about twice this), and how often the alert-delivery duty's "
        "holder looks for changes still to deliver.",
    )
    api: ApiConfig = Field(default_factory=ApiConfig, description="The HTTP API (TRYGG_API_*)")
    alert_delivery: DeliveryConfig = Field(
        default_factory=DeliveryConfig, description="Alert delivery (TRYGG_ALERT_*)"
    )
    release: ReleaseConfig = Field(
        default_factory=ReleaseConfig, description="Releases and rollouts (TRYGG_RELEASE_*)"
    )

    @field_validator("mqtt_fallbacks")
    @classmethod
    def _nodes(cls, value: str) -> str:
        parse_nodes(value)  # ValueError names the bad entry
        return value

    @model_validator(mode="after")
    def _renew_within_ttl(self) -> Self:
        if self.lease_renew_s * 2 > self.lease_ttl_s:
            raise ValueError("lease_renew_s must be at most half of lease_ttl_s")
        return self

    def holder(self) -> str:
        """This hub's name as lease holder: ``hub_id``, else hostname-pid."""
        return self.hub_id or f"{socket.gethostname()[:80]}-{os.getpid()}"

    def broker(self) -> MqttSettings:
        """The hub's MQTT session: persistent, so the broker queues for it while it is away."""
        return MqttSettings(
            host=self.mqtt_host,
            port=self.mqtt_port,
            fallbacks=parse_nodes(self.mqtt_fallbacks, default_port=self.mqtt_port),
            client_id=self.client_id,
            username=self.mqtt_username,
            password=self.mqtt_password,
            ca_file=self.mqtt_ca_file,
            cert_file=self.mqtt_cert_file,
            key_file=self.mqtt_key_file,
            clean_start=False,
            session_expiry_s=self.session_expiry_s,
            receive_maximum=self.receive_maximum,
            keepalive_s=self.mqtt_keepalive_s,
        )
