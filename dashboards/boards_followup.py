"""Uppföljning: the follow-up figures of ``trygg report`` for any range and site. Pure.

The source is what :mod:`hub.followup.export` writes to InfluxDB's five-year ``rollup``
policy from the hub's stored hours: seconds and counts per hour, site and asset kind, and
one point per resolved ticket. Grafana keeps one data source, the board works whether the
hub runs on SQLite or PostgreSQL, and no reader needs access to the hub's database. Shares
are sums divided over the whole range (``sum(lit)/sum(dark)``), never means of hourly
shares, so a month here is the month of the report. The default range is the last whole
month; Grafana's "This month" / "Previous month" ranges pick others.
"""

from __future__ import annotations

from typing import Final

from dashboards import schema as s
from dashboards.library import SITE_FILTER, tickets, where_site
from dashboards.model import Dashboard, Panel, Query, Row, Step, Variable

F: Final = s.FOLLOWUP
R: Final = s.FOLLOWUP_REPAIR
SOURCE: Final = f'"{s.ROLLUP_RP}"."{F.name}"'
REPAIRS: Final = f'"{s.ROLLUP_RP}"."{R.name}"'
SITE: Final = Variable(
    "site", "Site", f'SHOW TAG VALUES FROM {SOURCE} WITH KEY = "{F.tag(s.TAG_SITE)}"'
)
STAT: Final = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
SHARE_STEPS: Final = (Step(None, "red"), Step(0.95, "yellow"), Step(0.99, "green"))
DAY: Final = "GROUP BY time(1d){by} fill(none) tz('Europe/Stockholm')"


def _kind(kind: str) -> str:
    return f"\"{F.tag('kind')}\" = '{kind}'"


def _share(part: str, whole: str) -> str:
    return f'sum("{F.field(part)}") / sum("{F.field(whole)}")'


def _stat(title: str, expr: str, kind: str | None, *, unit: str, description: str) -> Panel:
    cond = (_kind(kind),) if kind else ()
    q = Query(f'SELECT {expr} AS "v" FROM {SOURCE} {where_site(*cond)}', alias=title)
    steps = SHARE_STEPS if unit == "percentunit" else ()
    return Panel(
        title,
        "stat",
        (q,),
        unit=unit,
        width=6,
        height=5,
        description=description,
        steps=steps,
        decimals=2 if unit == "percentunit" else 1,
        options=STAT,
    )


def _daily(title: str, expr: str, kind: str, *, description: str) -> Panel:
    q = Query(
        f"SELECT {expr} FROM {SOURCE} {where_site(_kind(kind))} "
        + DAY.format(by=f', "{F.tag(s.TAG_SITE)}"'),
        alias="$tag_site",
    )
    return Panel(
        title,
        "timeseries",
        (q,),
        unit="percentunit",
        description=description,
        minimum=0,
        maximum=1,
        options={"legend": {"displayMode": "table", "placement": "right", "calcs": ["min"]}},
    )


def _per(title: str, expr: str, by: str, kind: str | None, *, unit: str, description: str) -> Panel:
    cond = (_kind(kind),) if kind else ()
    q = Query(
        f'SELECT {expr} AS "v" FROM {SOURCE} {where_site(*cond)} GROUP BY "{F.tag(by)}"',
        alias=f"$tag_{by}",
    )
    return Panel(
        title,
        "bargauge",
        (q,),
        unit=unit,
        description=description,
        steps=SHARE_STEPS if unit == "percentunit" else (),
        minimum=0,
        maximum=1 if unit == "percentunit" else None,
        options={
            "orientation": "horizontal",
            "displayMode": "basic",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        },
    )


def _repairs() -> Panel:
    cols = (
        f'count("{R.field("repair_h")}") AS "resolved"',
        f'percentile("{R.field("ack_h")}", 50) AS "ack median h"',
        f'percentile("{R.field("ack_h")}", 90) AS "ack p90 h"',
        f'percentile("{R.field("repair_h")}", 50) AS "repair median h"',
        f'percentile("{R.field("repair_h")}", 90) AS "repair p90 h"',
        f'mean("{R.field("within_sla")}") AS "within SLA"',
    )
    q = Query(
        f"SELECT {', '.join(cols)} FROM {REPAIRS} WHERE $timeFilter AND {SITE_FILTER} "
        f'GROUP BY "{R.tag("kind")}"',
        table=True,
    )
    return Panel(
        "Repairs per ticket kind",
        "table",
        (q,),
        width=24,
        description=(
            "Tickets resolved in the range: hours from opening to acknowledgement and to "
            "resolution (median and 90th percentile by rank), and the share resolved by "
            "the SLA due time. trygg report counts tickets opened in the period instead."
        ),
        options={"showHeader": True, "cellHeight": "sm"},
    )


def followup() -> Dashboard:
    lamps = (
        _stat(
            "Lamp availability",
            _share("lamp_lit_dark_s", "lamp_dark_s"),
            "streetlight",
            unit="percentunit",
            description="Seconds lit / all lamp seconds while dark at the pole (silent = unlit).",
        ),
        _stat(
            "Dark lamp-hours",
            f'(sum("{F.field("lamp_dark_s")}") - sum("{F.field("lamp_lit_dark_s")}")) / 3600',
            "streetlight",
            unit="h",
            description="Lamp-hours dark at the pole and not lit (off, no current, silent).",
        ),
        _stat(
            "Day-burning hours",
            f'sum("{F.field("lamp_lit_day_s")}") / 3600',
            "streetlight",
            unit="h",
            description="Lamp-hours lit while the sun is up.",
        ),
        _stat(
            "Day-burning energy",
            f'sum("{F.field("lamp_day_wh")}") / 1000',
            "streetlight",
            unit="kwatth",
            description="What the lamps drew while burning by day.",
        ),
        _daily(
            "Lamp availability per day",
            _share("lamp_lit_dark_s", "lamp_dark_s"),
            "streetlight",
            description="Per Stockholm calendar day and site.",
        ),
        _per(
            "Lamp availability per site",
            _share("lamp_lit_dark_s", "lamp_dark_s"),
            s.TAG_SITE,
            "streetlight",
            unit="percentunit",
            description="Over the whole range, per site.",
        ),
    )
    bins_cams = (
        _stat(
            "Bin hours full",
            f'sum("{F.field("bin_full_s")}") / 3600',
            "bin",
            unit="h",
            description="Bin-hours at or above each bin's full threshold.",
        ),
        _stat(
            "Bin fires",
            f'sum("{F.field("fires")}")',
            "bin",
            unit="none",
            description="Temperature rising through the bin's fire threshold.",
        ),
        _stat(
            "Collections",
            f'sum("{F.field("collections")}")',
            "bin",
            unit="none",
            description="Fill level falling by 0.3 or more between two readings.",
        ),
        _stat(
            "Camera availability",
            _share("camera_healthy_s", "camera_s"),
            "camera",
            unit="percentunit",
            description="Share of camera-seconds with a health score of at least 0.6.",
        ),
        _per(
            "Camera availability per site",
            _share("camera_healthy_s", "camera_s"),
            s.TAG_SITE,
            "camera",
            unit="percentunit",
            description="Over the whole range, per site.",
        ),
        _per(
            "Reporting per asset kind",
            _share("heard_s", "asset_s"),
            "kind",
            None,
            unit="percentunit",
            description="Share of asset-seconds with a recent reading (devices' availability).",
        ),
    )
    return Dashboard(
        uid="trygg-followup",
        title="Uppföljning (follow-up)",
        description=(
            "The follow-up figures of trygg report for any range and site, from the hub's "
            "hourly history (docs/follow-up.md). Default: the last whole month."
        ),
        variables=(SITE,),
        annotations=(tickets(),),
        rows=(
            Row("Street lighting", lamps),
            Row("Repairs", (_repairs(),)),
            Row("Bins, cameras and reporting", bins_cams),
        ),
        time_from="now-1M/M",
        time_to="now-1M/M",
        refresh="1h",
    )
