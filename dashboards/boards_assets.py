"""The per-kind dashboards: Streetlights, Waste bins, Cameras, Crowds. Pure."""

from __future__ import annotations

from dashboards import schema as s
from dashboards.library import (
    FRUIN_MAPPINGS,
    FRUIN_STEPS,
    SITE,
    device_variable,
    edge_events,
    tickets,
    where,
    where_site,
)
from dashboards.model import Dashboard, Panel, Query, Row, Step
from dashboards.panels import LEGEND_TABLE, latest_table, per_asset, state_timeline

LAMP_STATES = (
    ("on", "on", "yellow"),
    ("off", "off", "dark-blue"),
    ("low", "low", "light-yellow"),
    ("bootingUp", "booting", "purple"),
)


def streetlights() -> Dashboard:
    m = s.STREETLIGHT
    lamps_on = Query(
        f'SELECT count("state") FROM (SELECT last("{m.field("powerState")}") AS "state" '
        f'FROM "{m.name}" {where()} GROUP BY time($__interval), "{s.TAG_ASSET}") '
        f"WHERE $timeFilter AND \"state\" = 'on' GROUP BY time($__interval) fill(0)",
        alias="lamps on",
    )
    sun = Query(
        f'SELECT mean("{s.SUN.field("elevation")}") FROM "{s.SUN.name}" {where_site()} '
        f"GROUP BY time($__interval) fill(none)",
        alias="sun elevation (deg)",
    )
    energy = Query(
        f'SELECT integral("{m.field("activePower")}", 1h) FROM "{m.name}" {where()} '
        f'GROUP BY "{s.TAG_ASSET}"',
        alias="$tag_asset",
    )
    failures = Query(
        f'SELECT sum("v") FROM (SELECT last("{s.TICKETS_OPEN.field("count")}") AS "v" '
        f'FROM "{s.TICKETS_OPEN.name}" WHERE $timeFilter AND "kind" =~ {s.LAMP_TICKETS} '
        f'GROUP BY time($__interval), "kind", "priority", "area") '
        f'WHERE $timeFilter GROUP BY time($__interval), "kind" fill(none)',
        alias="$tag_kind",
    )
    cabinets = Query(
        f'SELECT "{s.TICKET_EVENT.field("asset")}" AS "cabinet", "{s.TICKET_EVENT.field("title")}", '
        f'"{s.TICKET_EVENT.tag("status")}" FROM "{s.TICKET_EVENT.name}" WHERE $timeFilter '
        f"AND \"kind\" = 'cabinetOut'",
        table=True,
    )
    dayburn = Query(
        f'SELECT sum("{s.DAYBURN.field("seconds")}") / 3600 AS "hours", '
        f'sum("{s.DAYBURN.field("energy_wh")}") / 1000 AS "kWh" FROM "{s.DAYBURN.name}" '
        f'{where_site()} GROUP BY "{s.TAG_ASSET}"',
        table=True,
    )
    panels = (
        state_timeline("Lamp state", m, "powerState", LAMP_STATES),
        Panel(
            "Lamps on against sun elevation",
            "timeseries",
            (lamps_on, sun),
            description="Lamps should switch on below civil twilight (sun < -6 deg).",
            options=LEGEND_TABLE,
        ),
        per_asset("Lamp current", m, "intensity", unit="amp"),
        per_asset("Lamp power", m, "activePower", unit="kwatt"),
        Panel(
            "Energy per lamp",
            "bargauge",
            (energy,),
            unit="kwatth",
            description="Energy drawn in the time range (integral of active power).",
            options={"displayMode": "gradient", "orientation": "horizontal"},
        ),
        Panel(
            "Day-burning hours and energy wasted",
            "table",
            (dayburn,),
            description="Hours a lamp was on in daylight and the energy that cost.",
        ),
        Panel(
            "Open streetlight tickets by kind",
            "timeseries",
            (failures,),
            unit="short",
            options=LEGEND_TABLE,
        ),
        Panel(
            "Cabinet outages",
            "table",
            (cabinets,),
            description="Many lamps of one cabinet out at once: one ticket for the cabinet.",
            options={"showHeader": True},
        ),
    )
    return Dashboard(
        uid="trygg-streetlights",
        title="Trygg · Streetlights",
        description="Lamp state against the sun, current and power, day-burning, failures.",
        variables=(SITE, device_variable(m)),
        rows=(Row("Lamps", panels),),
        annotations=(tickets(s.LAMP_TICKETS),),
    )


def waste_bins() -> Dashboard:
    m = s.BIN
    collections = Query(
        f'SELECT count("drop") FROM (SELECT difference(last("{m.field("fillingLevel")}")) '
        f'AS "drop" FROM "{m.name}" {where()} GROUP BY time($__interval), "{s.TAG_ASSET}") '
        f'WHERE $timeFilter AND "drop" < -0.3 GROUP BY "{s.TAG_ASSET}"',
        alias="$tag_asset",
    )
    forecast = Query(
        f'SELECT last("{s.BINS_FORECAST_FULL.field("count")}") FROM '
        f'"{s.BINS_FORECAST_FULL.name}" WHERE $timeFilter GROUP BY time($__interval) '
        f"fill(previous)",
        alias="bins forecast full",
    )
    panels = (
        per_asset(
            "Fill level",
            m,
            "fillingLevel",
            agg="max",
            unit="percentunit",
            minimum=0,
            maximum=1,
            steps=(Step(None, "green"), Step(0.8, "orange"), Step(0.95, "red")),
        ),
        latest_table(
            "Fill level now",
            m,
            ("fillingLevel", "temperature", "tilted"),
            steps=(Step(None, "green"), Step(0.8, "orange"), Step(0.95, "red")),
        ),
        Panel("Bins forecast full in the next hours", "timeseries", (forecast,), unit="short"),
        per_asset(
            "Temperature",
            m,
            "temperature",
            agg="max",
            unit="celsius",
            steps=(Step(None, "green"), Step(50, "orange"), Step(70, "red")),
            description="A high or fast-rising temperature means fire (life-safety).",
        ),
        Panel(
            "Collections",
            "bargauge",
            (collections,),
            unit="short",
            description="Fill level dropped by 30 points or more within an interval.",
            options={"displayMode": "basic", "orientation": "horizontal"},
        ),
    )
    return Dashboard(
        uid="trygg-bins",
        title="Trygg · Waste bins",
        description="Fill levels, forecast full, temperature (fire), collections.",
        variables=(SITE, device_variable(m)),
        rows=(Row("Bins", panels),),
        annotations=(tickets(s.BIN_TICKETS), edge_events(m.name)),
    )


def cameras() -> Dashboard:
    m = s.CAMERA
    panels = (
        per_asset(
            "Health score",
            m,
            "healthScore",
            unit="percentunit",
            minimum=0,
            maximum=1,
            steps=(Step(None, "red"), Step(0.5, "orange"), Step(0.8, "green")),
            width=24,
        ),
        per_asset("Sharpness against baseline", m, "sharpness", unit="percentunit"),
        per_asset("Edge density against baseline", m, "edgeDensity", unit="percentunit"),
        latest_table(
            "Current faults",
            s.EVENT,
            ("active", "severity"),
            by=(s.TAG_ASSET, "type"),
            condition=f"\"kind\" = '{m.name}'",
            mappings=(("true", "active", "red"), ("false", "cleared", "green")),
            width=24,
        ),
    )
    return Dashboard(
        uid="trygg-cameras",
        title="Trygg · Cameras",
        description="Camera health over time (numbers only: no image leaves a pole).",
        variables=(SITE, device_variable(m)),
        rows=(Row("Camera health", panels),),
        annotations=(tickets(s.CAMERA_TICKETS), edge_events(m.name)),
    )


def crowds() -> Dashboard:
    m = s.CROWD
    panels = (
        per_asset(
            "Density per zone",
            m,
            "peopleDensity",
            agg="max",
            unit="suffix: p/m²",
            steps=FRUIN_STEPS,
            width=24,
            description="Colours are Fruin's walkway levels of service A-F.",
        ),
        state_timeline("Level of service per zone", m, "levelOfService", FRUIN_MAPPINGS),
        per_asset("People per zone", m, "peopleCount", agg="max", unit="short"),
        latest_table(
            "Zones now",
            m,
            ("peopleCount", "peopleDensity", "levelOfService"),
            steps=FRUIN_STEPS,
            mappings=FRUIN_MAPPINGS,
        ),
    )
    return Dashboard(
        uid="trygg-crowds",
        title="Trygg · Crowds",
        description="Anonymous crowd density per zone, with Fruin levels of service.",
        variables=(SITE, device_variable(m)),
        rows=(Row("Crowds", panels),),
        annotations=(tickets(),),
        # during an event the edge reports every second: operators see a surge within seconds
        refresh="5s",
        time_from="now-3h",
    )
