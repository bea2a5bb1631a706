"""What the hub writes to InfluxDB, as the dashboards see it: the one place names live.

Every panel query is built from the names here, so a renamed measurement or field is a
one-line fix, and ``tests/dashboards`` runs every query against a real InfluxDB that a
simulated fleet filled through MQTT and the hub, so a name the hub does not write fails
there, naming the panel. Pure: imports only the wire contract.

Sources of data, and who writes them:

- readings: measurement = asset kind, tags asset/device/sensor/site, one field per contract
  field (``hub/lineproto.py``);
- edge events: measurement ``event``, tags device/site/asset/kind/type, fields active and
  severity (``hub/ingest.py``);
- hub self-metrics, ticket events and minute gauges: the names below are read from
  ``hub/metrics.py`` and ``hub/gauges.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from trygg.contract import FIELDS, AssetKind

DATABASE: Final = "trygg"  # HubSettings.influx_db
RAW_RP: Final = "raw"  # the default retention policy the hub writes readings to
DATASOURCE_UID: Final = "trygg-influxdb"
DATASOURCE_TYPE: Final = "influxdb"

# Tags on readings and edge events.
TAG_SITE: Final = "site"
TAG_DEVICE: Final = "device"
TAG_ASSET: Final = "asset"
TAG_SENSOR: Final = "sensor"

READING_KINDS: Final = tuple(k.value for k in AssetKind)


@dataclass(frozen=True, slots=True)
class Measurement:
    """A measurement a panel reads; ``writer`` says which part of Trygg writes it."""

    name: str
    writer: str
    fields: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def field(self, name: str) -> str:
        """``name`` if this measurement has it; ValueError otherwise (a typo fails at build)."""
        if name not in self.fields:
            raise ValueError(f"measurement {self.name!r} has no field {name!r}")
        return name

    def tag(self, name: str) -> str:
        if name not in self.tags:
            raise ValueError(f"measurement {self.name!r} has no tag {name!r}")
        return name


_READING_TAGS: Final = (TAG_ASSET, TAG_DEVICE, TAG_SENSOR, TAG_SITE)


def _reading(kind: AssetKind, *fields: str) -> Measurement:
    for f in fields:
        if f not in FIELDS:
            raise ValueError(f"{f!r} is not a contract field")
    return Measurement(kind.value, "hub ingest (readings)", fields, _READING_TAGS)


STREETLIGHT: Final = _reading(
    AssetKind.STREETLIGHT, "powerState", "intensity", "activePower", "illuminance"
)
BIN: Final = _reading(AssetKind.BIN, "fillingLevel", "temperature", "tilted", "distance")
CAMERA: Final = _reading(
    AssetKind.CAMERA, "healthScore", "sharpness", "edgeDensity", "meanLuma", "frozen"
)
CROWD: Final = _reading(
    AssetKind.CROWD, "peopleCount", "peopleDensity", "levelOfService", "occlusionLimited"
)
DEVICE: Final = _reading(
    AssetKind.DEVICE,
    "cpuTemperature",
    "cpuLoad",
    "outboxDepth",
    "droppedReadings",
    "clockSynced",
)

EVENT: Final = Measurement(
    "event",
    "hub ingest (edge events)",
    ("active", "severity"),
    (TAG_DEVICE, TAG_SITE, TAG_ASSET, "kind", "type"),
)

# ---- written by the hub itself (hub/gauges.py) -----------------------------------------
# One point per ticket change (annotations). No site tag: tickets are filed by crew area.
TICKET_EVENT: Final = Measurement(
    "ticket_event",
    "hub/gauges.py (ticket history export)",
    ("ticket", "history", "asset", "actor", "from", "title"),
    ("kind", "action", "status", "priority", "area"),
)
# Minute gauges.
TICKETS_OPEN: Final = Measurement(
    "tickets_open", "hub/gauges.py", ("count",), ("kind", "priority", "area")
)
TICKETS_OPEN_TOTAL: Final = Measurement("tickets_open_total", "hub/gauges.py", ("count",))
SLA_BREACHES: Final = Measurement("tickets_sla_breached", "hub/gauges.py", ("count",), ("kind",))
SLA_BREACHES_TOTAL: Final = Measurement("tickets_sla_breached_total", "hub/gauges.py", ("count",))
DEVICES_ONLINE: Final = Measurement("devices", "hub/gauges.py", ("online", "offline", "total"))
BINS_FORECAST_FULL: Final = Measurement("bins_forecast_full", "hub/gauges.py", ("count",))
ROLLOUT_DEVICES: Final = Measurement(
    "rollout_devices", "hub/gauges.py", ("count",), ("rollout", "version", "stage", "state")
)

# Ticket kinds per dashboard (hub/rules), as regexes over the ``kind`` tag.
LAMP_TICKETS: Final = "/^(lampOut|dayBurning|flicker|powerDrop|cabinetOut)$/"
BIN_TICKETS: Final = "/^bin/"
CAMERA_TICKETS: Final = "/^(camera|graffiti)/"

# ---- more minute gauges from the hub -----------------------------------------------------
ASSET_STATE: Final = Measurement(
    "asset_state",
    "hub/gauges.py, every minute (asset positions and state for the map)",
    ("lat", "lon", "state"),
    (TAG_ASSET, "kind", TAG_SITE, TAG_DEVICE),
)
# Pipeline self-metrics.
HUB_INGEST: Final = Measurement(
    "hub_ingest",
    "hub (hub/metrics.py, every minute)",
    ("messages", "readings", "dead_letters", "gaps", "duplicates", "queue_depth", "degraded"),
    (),
)

# Sun elevation at each site (lamps on/off against the sun; day-burning energy).
SUN: Final = Measurement(
    "sun", "hub/gauges.py, every minute", ("elevation", "daylight"), (TAG_SITE,)
)

# Day-burning per lamp (lit while the light at the pole is "day"): seconds (s) and energy
# drawn meanwhile (Wh) per interval, one point per lamp that burned in it.
DAYBURN: Final = Measurement(
    "streetlight_dayburn",
    "hub/dayburn.py, from the gauges loop every minute",
    ("seconds", "energy_wh"),
    (TAG_ASSET, TAG_SITE),
)

# ---- follow-up figures (hub/followup/export.py), in the five-year retention policy ---------
ROLLUP_RP: Final = "rollup"
# Per hour, site and asset kind, once the hour's history is stored: seconds and counts, so a
# panel sums them over its range and divides (the figures of ``trygg report``).
FOLLOWUP: Final = Measurement(
    "followup",
    "hub/followup/export.py, each hour once its asset history is stored",
    (
        "asset_s",
        "heard_s",
        "lamp_dark_s",
        "lamp_lit_dark_s",
        "lamp_lit_day_s",
        "lamp_day_wh",
        "bin_full_s",
        "camera_s",
        "camera_healthy_s",
        "fires",
        "collections",
    ),
    (TAG_SITE, "kind"),
)
# One point per resolved ticket, at its resolution: hours to acknowledge and to repair.
FOLLOWUP_REPAIR: Final = Measurement(
    "followup_repair",
    "hub/followup/export.py, with the hour its ticket was resolved in",
    ("ack_h", "repair_h", "within_sla"),
    ("kind", TAG_SITE, "ticket"),
)

ALL: Final = (
    STREETLIGHT,
    BIN,
    CAMERA,
    CROWD,
    DEVICE,
    EVENT,
    TICKET_EVENT,
    TICKETS_OPEN,
    TICKETS_OPEN_TOTAL,
    SLA_BREACHES,
    SLA_BREACHES_TOTAL,
    DEVICES_ONLINE,
    BINS_FORECAST_FULL,
    ROLLOUT_DEVICES,
    ASSET_STATE,
    HUB_INGEST,
    SUN,
    DAYBURN,
    FOLLOWUP,
    FOLLOWUP_REPAIR,
)
BY_NAME: Final = {m.name: m for m in ALL}
