"""City overview, and Fleet and pipeline health: the two cross-kind dashboards. Pure."""

from __future__ import annotations

from dashboards import schema as s
from dashboards.library import (
    FRUIN_MAPPINGS,
    KIND,
    KIND_REGEX,
    SITE,
    device_variable,
    edge_events,
    tickets,
    where,
)
from dashboards.model import Dashboard, Panel, Query, Row, Step
from dashboards.panels import LEGEND_TABLE, gauge_last, gauge_sum, latest_table, per_asset

_RED_IF_ANY = (Step(None, "green"), Step(1, "red"))


def _readings_per(by: str, title: str, description: str) -> Panel:
    return Panel(
        title,
        "timeseries",
        (
            Query(
                f"SELECT count(*) FROM {KIND_REGEX} {where()} "
                f'GROUP BY time($__interval), "{by}" fill(none)',
                alias=f"$measurement $tag_{by} $col",
            ),
        ),
        description=description,
        options=LEGEND_TABLE,
    )


def _asset_map() -> Panel:
    m = s.ASSET_STATE
    q = Query(
        f'SELECT last("{m.field("lat")}") AS "lat", last("{m.field("lon")}") AS "lon", '
        f'last("{m.field("state")}") AS "state" FROM "{m.name}" '
        f"{where(chr(34) + m.tag('kind') + chr(34) + ' =~ ' + KIND_REGEX)} "
        f'GROUP BY "{m.tag(s.TAG_ASSET)}", "kind"',
        table=True,
    )
    return Panel(
        "Assets by state",
        "geomap",
        (q,),
        width=24,
        height=14,
        description="Every asset at its position, coloured by its current state.",
        mappings=(("ok", "ok", "green"), ("alarm", "alarm", "red"), ("offline", "offline", "grey")),
        options={
            "view": {"id": "coords", "lat": 59.362, "lon": 18.0, "zoom": 13},
            "controls": {"showZoom": True, "mouseWheelZoom": True},
            "layers": [
                {
                    "type": "markers",
                    "name": "Assets",
                    "location": {"mode": "coords", "latitude": "lat", "longitude": "lon"},
                    "config": {
                        "showLegend": True,
                        "style": {
                            "size": {"fixed": 6},
                            "color": {"field": "state", "fixed": "green"},
                        },
                    },
                    "tooltip": True,
                }
            ],
        },
    )


def city_overview() -> Dashboard:
    ticket_panels = (
        gauge_sum(
            "Open tickets by kind",
            s.TICKETS_OPEN,
            "count",
            by=("kind", "priority", "area"),
            series_by="kind",
        ),
        gauge_sum(
            "Open tickets by priority",
            s.TICKETS_OPEN,
            "count",
            by=("kind", "priority", "area"),
            series_by="priority",
        ),
        gauge_last("Open tickets", s.TICKETS_OPEN_TOTAL, "count"),
        gauge_last("SLA breaches", s.SLA_BREACHES_TOTAL, "count", steps=_RED_IF_ANY),
        gauge_last("Devices online", s.DEVICES_ONLINE, "online"),
        gauge_last("Bins forecast full", s.BINS_FORECAST_FULL, "count"),
        gauge_sum(
            "SLA breaches by kind",
            s.SLA_BREACHES,
            "count",
            by=("kind",),
            series_by="kind",
            width=24,
        ),
    )
    crowd = latest_table(
        "Crowd level of service per zone",
        s.CROWD,
        ("levelOfService", "peopleDensity", "peopleCount"),
        mappings=FRUIN_MAPPINGS,
        description="Fruin walkway level of service (A < 0.31 ... F from 2.17 persons/m²).",
    )
    activity = (
        _readings_per(
            "site", "Readings stored per site", "Points the hub wrote, per asset kind and site."
        ),
        crowd,
    )
    return Dashboard(
        uid="trygg-city",
        title="Trygg · City overview",
        description="Tickets, SLA, devices online, assets on the map and crowds, city-wide.",
        variables=(SITE, KIND, device_variable()),
        rows=(
            Row("Tickets and fleet", ticket_panels),
            Row("Map", (_asset_map(),)),
            Row("Activity and crowds", activity),
        ),
        annotations=(tickets(), edge_events()),
    )


def fleet_health() -> Dashboard:
    dev = s.DEVICE
    hub = s.HUB_INGEST

    def hub_rate(title: str, field: str, unit: str, description: str) -> Panel:
        q = Query(
            f'SELECT non_negative_derivative(last("{hub.field(field)}"), 1s) FROM "{hub.name}" '
            f"WHERE $timeFilter GROUP BY time($__interval) fill(none)",
            alias=title,
        )
        return Panel(title, "timeseries", (q,), unit=unit, width=8, description=description)

    devices = (
        Panel(
            "Devices online and offline",
            "timeseries",
            tuple(
                Query(
                    f'SELECT last("{s.DEVICES_ONLINE.field(f)}") FROM "{s.DEVICES_ONLINE.name}" '
                    f"WHERE $timeFilter GROUP BY time($__interval) fill(previous)",
                    alias=f,
                )
                for f in ("online", "offline")
            ),
            unit="short",
            description="From the hub's device state (Last Will, heartbeat timeout).",
        ),
        _readings_per(
            "device", "Readings stored per device", "Points the hub wrote, per kind and device."
        ),
        per_asset(
            "Outbox depth",
            dev,
            "outboxDepth",
            agg="max",
            by=s.TAG_DEVICE,
            unit="short",
            description="Messages waiting on the pole; growing means the link or hub is away.",
        ),
        per_asset(
            "Dropped readings",
            dev,
            "droppedReadings",
            agg="max",
            by=s.TAG_DEVICE,
            unit="short",
            steps=_RED_IF_ANY,
            description="Dropped oldest-first because the outbox was full (cumulative).",
        ),
        per_asset(
            "CPU temperature",
            dev,
            "cpuTemperature",
            by=s.TAG_DEVICE,
            unit="celsius",
            steps=(Step(None, "green"), Step(70, "orange"), Step(80, "red")),
        ),
        per_asset("CPU load", dev, "cpuLoad", by=s.TAG_DEVICE, unit="percentunit"),
    )
    pipeline = (
        hub_rate("Ingest rate", "readings", "reqps", "Readings stored per second."),
        hub_rate("Dead letters", "dead_letters", "reqps", "Rejected messages per second."),
        hub_rate("Sequence gaps", "gaps", "short", "New gaps in device sequences per second."),
        Panel(
            "Ingest queue depth",
            "timeseries",
            (
                Query(
                    f'SELECT max("{hub.field("queue_depth")}") FROM "{hub.name}" '
                    f"WHERE $timeFilter GROUP BY time($__interval) fill(none)",
                    alias="queue depth",
                ),
            ),
            unit="short",
        ),
        Panel(
            "Hub degraded",
            "timeseries",
            (
                Query(
                    f'SELECT max("{hub.field("degraded")}") FROM "{hub.name}" '
                    f"WHERE $timeFilter GROUP BY time($__interval) fill(previous)",
                    alias="degraded",
                ),
            ),
            unit="short",
            steps=_RED_IF_ANY,
            description="1 while a hub worker or dependency has failed for longer than "
            "degraded_grace_s (a hubDegraded ticket is open; /ready says what).",
        ),
        latest_table(
            "Device events",
            s.EVENT,
            ("active", "severity"),
            by=(s.TAG_DEVICE, s.TAG_ASSET, "type"),
            condition=f'"kind" =~ {KIND_REGEX}',
        ),
    )
    ro = s.ROLLOUT_DEVICES
    releases = (
        Panel(
            "Rollout progress per stage",
            "timeseries",
            (
                Query(
                    f'SELECT last("{ro.field("count")}") FROM "{ro.name}" WHERE $timeFilter '
                    f'GROUP BY time($__interval), "{ro.tag("rollout")}", "{ro.tag("stage")}", '
                    f'"{ro.tag("state")}" fill(previous)',
                    alias="rollout $tag_rollout · $tag_stage · $tag_state",
                ),
            ),
            unit="short",
            width=24,
            description="Devices per state (pending, sent … healthy, rolled_back, failed, "
            "timed_out) in each stage of every open rollout; the fleet page (/fleet/) has "
            "pause, resume and abort (docs/rollouts.md).",
        ),
    )
    return Dashboard(
        uid="trygg-fleet",
        title="Trygg · Fleet and pipeline health",
        description="Are the poles and the hub healthy: online, outboxes, drops, ingest.",
        variables=(SITE, KIND, device_variable()),
        rows=(Row("Devices", devices), Row("Pipeline", pipeline), Row("Releases", releases)),
        annotations=(tickets(),),
    )
