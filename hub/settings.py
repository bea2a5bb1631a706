"""Hub settings: one frozen object, built from arguments or TRYGG_* environment variables.

Nothing reads the environment at import time; :func:`from_env` is called by ``__main__``.

Supervision and timeouts (docs/supervision.md):

- ``influx_timeout_s``: longest wait for one InfluxDB request (write, query, ping).
- ``mqtt_keepalive_s``: MQTT keep-alive; a broker that stops answering is noticed after
  about 1.5 times this.
- ``sql_connect_timeout_s``, ``sql_statement_timeout_s``, ``sql_pool_timeout_s``: the SQL
  database's connect timeout, statement timeout (SQLite: how long to wait for a lock) and
  the wait for a free pooled connection.
- ``api_deadline_s``: every API request answers within this, else 503 with Retry-After.
- ``health_check_s``: how often the dependencies are checked (SQL, InfluxDB, broker);
  each check gives up after ``health_timeout_s``.
- ``degraded_grace_s``: a trouble lasting this long raises the ``hubDegraded`` self-alarm.
- ``restart_first_s``, ``restart_cap_s``: a failed worker's first and longest back-off.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from hub.asset_owners import DEFAULT_MAX_PER_DEVICE
from trygg.mqtt import MqttSettings


@dataclass(frozen=True, slots=True)
class HubSettings:
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_ca_file: Path | None = None
    mqtt_cert_file: Path | None = None
    mqtt_key_file: Path | None = None
    client_id: str = "trygg-hub-1"
    share_group: str = "trygg-hub"
    session_expiry_s: int = 7 * 24 * 3600
    influx_url: str = "http://127.0.0.1:8086"
    influx_db: str = "trygg"
    influx_username: str | None = None
    influx_password: str | None = None
    influx_token: str | None = None  # InfluxDB 2.x/3.x v1-compatibility API
    influx_raw_rp: str = "raw"
    influx_raw_retention: str = "90d"
    # InfluxDB 1.x: the hub creates the database, retention policies and roll-up queries.
    # 2.x/3.x refuse that DDL over the v1 API: buckets, DBRP mappings and downsampling
    # tasks are made at install time instead (deploy/), so set this to false there.
    influx_manage_schema: bool = True
    database_url: str = "sqlite:///state/hub.sqlite"
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    batch_max_lines: int = 5000
    batch_max_delay_s: float = 0.2
    registry_open: bool = False  # accept devices not yet registered (demo only)
    offline_grace_s: float = 120.0
    tick_s: float = 5.0
    gauges_s: float = 60.0
    dedup: bool = True  # switched off only by the control run of the chaos test
    spool_dir: Path = field(default_factory=lambda: Path("state/spool"))
    # ---- ingest ----
    spool_max_bytes: int = 512 * 1024 * 1024  # full spool => stop acknowledging, never drop
    dead_letter_max: int = 20_000  # rows kept; counts per reason are kept forever
    heartbeat_timeouts: str = ""  # per device class, "pole=600,camera=120"; else 2.5 x birth's
    rebirth_interval_s: float = 60.0  # at most one rebirth request per device per interval
    receive_maximum: int = 20_000  # un-acknowledged messages the broker may send us
    command_retry_s: float = 300.0  # re-send a device command unanswered this long
    max_assets_per_device: int = DEFAULT_MAX_PER_DEVICE  # more: too_many_assets
    # certificates and CRLs to warn about before they expire (docs/certificates.md)
    cert_watch: str = ""  # ":"-separated files/folders, e.g. the provisioning's public/
    cert_check_s: float = 3600.0
    # ---- supervision and timeouts (see the module docstring) ----
    influx_timeout_s: float = 30.0
    mqtt_keepalive_s: int = 60
    sql_connect_timeout_s: float = 10.0
    sql_statement_timeout_s: float = 30.0
    sql_pool_timeout_s: float = 10.0
    api_deadline_s: float = 15.0
    health_check_s: float = 5.0
    health_timeout_s: float = 3.0
    degraded_grace_s: float = 120.0
    restart_first_s: float = 0.5
    restart_cap_s: float = 30.0

    def broker(self) -> MqttSettings:
        """The hub's MQTT session: persistent, so the broker queues for it while it is away."""
        return MqttSettings(
            host=self.mqtt_host,
            port=self.mqtt_port,
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


def from_env(environ: dict[str, str] | None = None, **overrides: Any) -> HubSettings:
    """Settings from ``TRYGG_<FIELD>`` variables (e.g. TRYGG_INFLUX_URL), then overrides.

    Secrets may be given as ``TRYGG_<FIELD>_FILE`` pointing at a file.
    """
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    for f in fields(HubSettings):
        key = f"TRYGG_{f.name.upper()}"
        raw = env.get(key)
        if raw is None and f"{key}_FILE" in env:
            raw = Path(env[f"{key}_FILE"]).read_text().strip()
        if raw is None:
            continue
        kind = str(f.type)
        if "int" in kind and "Path" not in kind:
            values[f.name] = int(raw)
        elif "float" in kind:
            values[f.name] = float(raw)
        elif "bool" in kind:
            values[f.name] = raw.lower() in {"1", "true", "yes"}
        elif "Path" in kind:
            values[f.name] = Path(raw)
        else:
            values[f.name] = raw
    return replace(HubSettings(**values), **overrides)
