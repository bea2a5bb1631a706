"""Panel shapes that recur across dashboards (a field per asset over time, a latest value
per asset, a count from a gauge). Pure; every name comes from :mod:`dashboards.schema`."""

from __future__ import annotations

from dashboards import schema as s
from dashboards.library import where
from dashboards.model import Panel, PanelType, Query, Step

LEGEND_TABLE = {
    "legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull", "max"]},
    "tooltip": {"mode": "multi", "sort": "desc"},
}


def per_asset(
    title: str,
    m: s.Measurement,
    field: str,
    *,
    agg: str = "mean",
    by: str = s.TAG_ASSET,
    unit: str = "none",
    description: str = "",
    steps: tuple[Step, ...] = (),
    minimum: float | None = None,
    maximum: float | None = None,
    width: int = 12,
) -> Panel:
    """A time series of ``agg(field)`` per ``by`` tag, at Grafana's interval."""
    q = Query(
        f'SELECT {agg}("{m.field(field)}") FROM "{m.name}" {where()} '
        f'GROUP BY time($__interval), "{m.tag(by)}" fill(none)',
        alias=f"$tag_{by}",
    )
    return Panel(
        title,
        "timeseries",
        (q,),
        unit=unit,
        description=description,
        steps=steps,
        minimum=minimum,
        maximum=maximum,
        width=width,
        options=LEGEND_TABLE,
    )


def state_timeline(
    title: str,
    m: s.Measurement,
    field: str,
    mappings: tuple[tuple[str, str, str], ...],
    *,
    description: str = "",
) -> Panel:
    """The latest text/bool state per asset in each interval, carried forward."""
    q = Query(
        f'SELECT last("{m.field(field)}") FROM "{m.name}" {where()} '
        f'GROUP BY time($__interval), "{s.TAG_ASSET}" fill(previous)',
        alias=f"$tag_{s.TAG_ASSET}",
    )
    return Panel(
        title,
        "state-timeline",
        (q,),
        mappings=mappings,
        description=description,
        width=24,
        options={"showValue": "auto", "mergeValues": True, "rowHeight": 0.8},
    )


def latest_table(
    title: str,
    m: s.Measurement,
    fields: tuple[str, ...],
    *,
    by: tuple[str, ...] = (s.TAG_ASSET,),
    condition: str | None = None,
    description: str = "",
    steps: tuple[Step, ...] = (),
    mappings: tuple[tuple[str, str, str], ...] = (),
    width: int = 12,
) -> Panel:
    """One row per ``by`` group with the latest value of each field."""
    cols = ", ".join(f'last("{m.field(f)}") AS "{f}"' for f in fields)
    group = ", ".join(f'"{m.tag(t)}"' for t in by)
    extra = (condition,) if condition else ()
    q = Query(f'SELECT {cols} FROM "{m.name}" {where(*extra)} GROUP BY {group}', table=True)
    return Panel(
        title,
        "table",
        (q,),
        description=description,
        steps=steps,
        mappings=mappings,
        width=width,
        options={"showHeader": True, "cellHeight": "sm"},
    )


def gauge_sum(
    title: str,
    m: s.Measurement,
    field: str,
    *,
    by: tuple[str, ...],
    series_by: str | None = None,
    filters: str = "",
    panel_type: PanelType = "timeseries",
    unit: str = "none",
    description: str = "",
    steps: tuple[Step, ...] = (),
    width: int = 12,
) -> Panel:
    """A minute gauge summed over its groups: the last value of each group per interval,
    then the sum (a plain sum would count a group once per gauge write in the interval).
    The outer query repeats the time filter: InfluxDB 1.x bounds a subquery's outer
    ``GROUP BY time`` by now() otherwise, which hides simulated or future-dated points."""
    inner_by = ", ".join(f'"{m.tag(t)}"' for t in by)
    cond = f" AND {filters}" if filters else ""
    outer_by = f', "{m.tag(series_by)}"' if series_by else ""
    q = Query(
        f'SELECT sum("v") FROM (SELECT last("{m.field(field)}") AS "v" FROM "{m.name}" '
        f"WHERE $timeFilter{cond} GROUP BY time($__interval), {inner_by}) "
        f"WHERE $timeFilter GROUP BY time($__interval){outer_by} fill(none)",
        alias=f"$tag_{series_by}" if series_by else title,
    )
    return _gauge_panel(
        title, panel_type, q, unit=unit, description=description, steps=steps, width=width
    )


def gauge_last(
    title: str,
    m: s.Measurement,
    field: str,
    *,
    panel_type: PanelType = "stat",
    unit: str = "none",
    description: str = "",
    steps: tuple[Step, ...] = (),
    width: int = 6,
) -> Panel:
    """An untagged minute gauge: its last value per interval, carried forward."""
    q = Query(
        f'SELECT last("{m.field(field)}") FROM "{m.name}" WHERE $timeFilter '
        f"GROUP BY time($__interval) fill(previous)",
        alias=title,
    )
    return _gauge_panel(
        title, panel_type, q, unit=unit, description=description, steps=steps, width=width
    )


def _gauge_panel(
    title: str,
    panel_type: PanelType,
    q: Query,
    *,
    unit: str,
    description: str,
    steps: tuple[Step, ...],
    width: int,
) -> Panel:
    """A one-query gauge panel: a stat shows the last value, a graph a legend table."""
    options = (
        {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
        if panel_type == "stat"
        else LEGEND_TABLE
    )
    return Panel(
        title,
        panel_type,
        (q,),
        unit=unit,
        description=description,
        steps=steps,
        width=width,
        height=5 if panel_type == "stat" else 8,
        options=options,
    )
