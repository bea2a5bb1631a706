"""A follow-up report as tables, and those tables as JSON, CSV and HTML (Swedish by default,
English on request). Pure: strings in, strings out."""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass
from typing import Final

from hub.followup.figures import CAMERA_FAULTS, Report

LABELS: Final[dict[str, dict[str, str]]] = {
    "sv": {
        "title": "Uppföljning",
        "period": "Period",
        "previous": "Föregående period",
        "figure": "Mått",
        "lighting": "Gatubelysning",
        "lamps": "Armaturer",
        "availability": "Tillgänglighet (andel mörka armaturtimmar tända)",
        "dark_lamp_hours": "Släckta armaturtimmar i mörker",
        "day_burning_hours": "Dagbränning, timmar",
        "wasted_kwh": "Dagbränning, kWh",
        "repairs": "Felavhjälpning per ärendetyp",
        "kind": "Ärendetyp",
        "opened": "Öppnade",
        "resolved": "Åtgärdade",
        "ack_median_h": "Kvittens median (h)",
        "ack_p90_h": "Kvittens p90 (h)",
        "repair_median_h": "Åtgärd median (h)",
        "repair_p90_h": "Åtgärd p90 (h)",
        "within_sla": "Inom avtalad tid",
        "reopened": "Återöppnade",
        "graffiti": "Klotter sanerat inom 24 h",
        "bins": "Papperskorgar",
        "hours_full": "Timmar över fullnivå",
        "fires": "Bränder",
        "collections": "Tömningar",
        "cameras": "Kameror och enheter",
        "camera_availability": "Kameror, andel friska timmar",
        "covered": "Kameratimmar övertäckt",
        "blurred": "Kameratimmar suddig bild",
        "turned_away": "Kameratimmar bortvriden",
        "reporting": "Rapporterar, andel timmar",
        "crowds": "Evenemang och trängsel",
        "events_held": "Evenemang",
        "minutes_e": "Minuter på servicenivå E",
        "minutes_f": "Minuter på servicenivå F",
        "events": "Evenemang under perioden",
        "event": "Evenemang",
        "place": "Plats",
        "start": "Början",
        "end": "Slut",
        "attendance": "Väntade besökare",
        "alerts": "Larm per typ",
        "alert_kind": "Larmtyp",
        "raised": "Larm",
        "acknowledged": "Kvitterade",
        "ack_median_min": "Kvittens median (min)",
        "ack_p90_min": "Kvittens p90 (min)",
        "none": "–",
    },
    "en": {
        "title": "Follow-up",
        "period": "Period",
        "previous": "Previous period",
        "figure": "Figure",
        "lighting": "Street lighting",
        "lamps": "Lamps",
        "availability": "Availability (share of dark lamp-hours lit)",
        "dark_lamp_hours": "Dark lamp-hours",
        "day_burning_hours": "Day-burning hours",
        "wasted_kwh": "Day-burning energy, kWh",
        "repairs": "Repairs per ticket kind",
        "kind": "Ticket kind",
        "opened": "Opened",
        "resolved": "Resolved",
        "ack_median_h": "Acknowledge median (h)",
        "ack_p90_h": "Acknowledge p90 (h)",
        "repair_median_h": "Repair median (h)",
        "repair_p90_h": "Repair p90 (h)",
        "within_sla": "Within SLA",
        "reopened": "Reopened",
        "graffiti": "Graffiti removed within 24 h",
        "bins": "Bins",
        "hours_full": "Hours above full",
        "fires": "Fires",
        "collections": "Collections",
        "cameras": "Cameras and devices",
        "camera_availability": "Cameras, share of hours healthy",
        "covered": "Camera-hours covered",
        "blurred": "Camera-hours blurred",
        "turned_away": "Camera-hours turned away",
        "reporting": "Reporting, share of hours",
        "crowds": "Events and crowds",
        "events_held": "Events held",
        "minutes_e": "Minutes at level of service E",
        "minutes_f": "Minutes at level of service F",
        "events": "Events in the period",
        "event": "Event",
        "place": "Place",
        "start": "Start",
        "end": "End",
        "attendance": "Expected attendance",
        "alerts": "Alerts per kind",
        "alert_kind": "Alert kind",
        "raised": "Raised",
        "acknowledged": "Acknowledged",
        "ack_median_min": "Acknowledge median (min)",
        "ack_p90_min": "Acknowledge p90 (min)",
        "none": "–",
    },
}

Cell = str | int | float | None
# A column that never exists: the table holds no shares whatever its rows' labels say.
NO_SHARES: Final = (-1,)


@dataclass(frozen=True, slots=True)
class Table:
    key: str
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    # Columns holding shares (0..1); in two-period tables the row's label says instead.
    share_cols: tuple[int, ...] = ()

    def is_share(self, row: tuple[Cell, ...], col: int, lang: str) -> bool:
        return col in self.share_cols if self.share_cols else is_share(str(row[0]), lang)


def _labels(lang: str) -> dict[str, str]:
    if lang not in LABELS:
        raise ValueError(f"language {lang!r}: one of {', '.join(LABELS)}")
    return LABELS[lang]


def tables(r: Report, lang: str = "sv") -> list[Table]:
    """Every table of the report, each figure with the previous period beside it."""
    t = _labels(lang)
    cur, prev = r.current, r.previous
    head = (t["figure"], cur.period, prev.period)

    def pair(key: str, a: Cell, b: Cell) -> tuple[Cell, ...]:
        return (t[key], a, b)

    li, lp = cur.lighting, prev.lighting
    lighting = Table(
        "lighting",
        t["lighting"],
        head,
        (
            pair("lamps", li.lamps, lp.lamps),
            pair("availability", li.availability, lp.availability),
            pair("dark_lamp_hours", li.dark_lamp_hours, lp.dark_lamp_hours),
            pair("day_burning_hours", li.day_burning_hours, lp.day_burning_hours),
            pair("wasted_kwh", li.wasted_kwh, lp.wasted_kwh),
        ),
    )
    fields = (
        "opened", "resolved", "ack_median_h", "ack_p90_h", "repair_median_h", "repair_p90_h",
        "within_sla", "reopened",
    )  # fmt: skip
    before = {x.kind: x for x in prev.repairs}
    rep_rows: list[tuple[Cell, ...]] = []
    for x in cur.repairs:
        rep_rows.append((x.kind, cur.period, *(getattr(x, f) for f in fields)))
        p = before.get(x.kind)
        rep_rows.append((x.kind, prev.period, *(getattr(p, f) if p else None for f in fields)))
    repairs = Table(
        "repairs",
        t["repairs"],
        (t["kind"], t["period"], *(t[f] for f in fields)),
        tuple(rep_rows),
        share_cols=(2 + fields.index("within_sla"),),
    )
    bins = Table(
        "bins",
        t["bins"],
        head,
        (
            pair("bins", cur.bins.bins, prev.bins.bins),
            pair("hours_full", cur.bins.hours_full, prev.bins.hours_full),
            pair("fires", cur.bins.fires, prev.bins.fires),
            pair("collections", cur.bins.collections, prev.bins.collections),
            pair("graffiti", cur.graffiti_within_24h, prev.graffiti_within_24h),
        ),
    )
    kinds = sorted(set(cur.availability) | set(prev.availability))
    devices = Table(
        "availability",
        t["cameras"],
        head,
        (
            pair("camera_availability", cur.camera_availability, prev.camera_availability),
            *(
                pair(k, cur.camera_fault_hours.get(k, 0.0), prev.camera_fault_hours.get(k, 0.0))
                for k in CAMERA_FAULTS.values()
            ),
            *(
                (f"{t['reporting']}: {k}", cur.availability.get(k), prev.availability.get(k))
                for k in kinds
            ),
        ),
    )
    return [lighting, repairs, bins, devices, *_crowd_tables(r, t)]


def _crowd_tables(r: Report, t: dict[str, str]) -> list[Table]:
    """Events held, minutes at level of service E and F per zone, and alerts per kind."""
    cur, prev = r.current, r.previous
    zones = {z.zone: z for z in cur.crowds.zones}
    before = {z.zone: z for z in prev.crowds.zones}
    zone_rows: list[tuple[Cell, ...]] = []
    for name in sorted(set(zones) | set(before)):
        a, b = zones.get(name), before.get(name)
        zone_rows.append(
            (f"{t['minutes_e']}: {name}", a.minutes_e if a else None, b.minutes_e if b else None)
        )
        zone_rows.append(
            (f"{t['minutes_f']}: {name}", a.minutes_f if a else None, b.minutes_f if b else None)
        )
    crowds = Table(
        "crowds",
        t["crowds"],
        (t["figure"], cur.period, prev.period),
        ((t["events_held"], len(cur.crowds.events), len(prev.crowds.events)), *zone_rows),
    )
    events = Table(
        "events",
        t["events"],
        (t["event"], t["period"], t["place"], t["start"], t["end"], t["attendance"]),
        tuple(
            (
                e.name,
                f.period,
                e.place,
                e.start.replace("T", " "),
                e.end.replace("T", " "),
                e.expected_attendance,
            )
            for f in (cur, prev)
            for e in f.crowds.events
        ),
        share_cols=NO_SHARES,
    )
    fields = ("raised", "acknowledged", "ack_median_min", "ack_p90_min")
    earlier = {x.kind: x for x in prev.crowds.alerts}
    alert_rows: list[tuple[Cell, ...]] = []
    for x in cur.crowds.alerts:
        alert_rows.append((x.kind, cur.period, *(getattr(x, f) for f in fields)))
        p = earlier.get(x.kind)
        alert_rows.append((x.kind, prev.period, *(getattr(p, f) if p else None for f in fields)))
    for x in prev.crowds.alerts:
        if x.kind not in {a.kind for a in cur.crowds.alerts}:
            alert_rows.append((x.kind, cur.period, *(None for _ in fields)))
            alert_rows.append((x.kind, prev.period, *(getattr(x, f) for f in fields)))
    alerts = Table(
        "alerts",
        t["alerts"],
        (t["alert_kind"], t["period"], *(t[f] for f in fields)),
        tuple(alert_rows),
        share_cols=NO_SHARES,
    )
    return [crowds, events, alerts]


def to_json(r: Report) -> str:
    return json.dumps(r.as_dict(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def to_csv(r: Report, lang: str = "sv") -> str:
    """Every table in one CSV, the table's key in the first column."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    for tb in tables(r, lang):
        w.writerow(("table", *tb.header))
        w.writerows((tb.key, *row) for row in tb.rows)
    return out.getvalue()


def fmt_cell(v: Cell, none: str, share: bool) -> str:
    if v is None:
        return none
    if isinstance(v, float):
        return f"{v * 100:.1f} %" if share else f"{v:,.1f}".replace(",", " ")
    return str(v)


def is_share(label: str, lang: str) -> bool:
    t = _labels(lang)
    return any(
        label.startswith(t[k])
        for k in ("availability", "within_sla", "graffiti", "camera_availability", "reporting")
    )


def _bar(v: Cell) -> str:
    """A small inline SVG bar for a share in 0..1 (no script, prints as is)."""
    if not isinstance(v, float) or not 0.0 <= v <= 1.0:
        return ""
    return (
        '<svg width="100" height="10" role="img"><rect width="100" height="10" fill="#e5e5e5"/>'
        f'<rect width="{v * 100:.1f}" height="10" fill="#1f6f8b"/></svg>'
    )


def _table_html(tb: Table, lang: str) -> str:
    none = _labels(lang)["none"]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in tb.header)
    body = []
    for row in tb.rows:
        label = str(row[0])
        cells = "".join(
            f"<td>{html.escape(fmt_cell(v, none, tb.is_share(row, i, lang)))} "
            f"{_bar(v) if tb.is_share(row, i, lang) and i == 1 else ''}</td>"
            for i, v in enumerate(row[1:], start=1)
        )
        body.append(f"<tr><th>{html.escape(label)}</th>{cells}</tr>")
    return f"<h2>{html.escape(tb.title)}</h2><table><tr>{head}</tr>{''.join(body)}</table>"


def to_html(r: Report, lang: str = "sv") -> str:
    """A standalone HTML page (inline style, no scripts, nothing fetched)."""
    t = _labels(lang)
    cur = r.current
    title = f"{t['title']} {html.escape(r.place)} {html.escape(cur.period)}"
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin-bottom:1.5em}"
        "th,td{border-bottom:1px solid #ccc;padding:.3em .6em;text-align:left}"
        "td{text-align:right}"
    )
    parts = [
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>',
        f"<style>{style}</style></head><body><h1>{title}</h1>",
        f"<p>{t['period']}: {cur.first} – {cur.last} ({cur.hours} h). ",
        f"{t['previous']}: {html.escape(r.previous.period)}.</p>",
        *(_table_html(tb, lang) for tb in tables(r, lang)),
        "</body></html>\n",
    ]
    return "".join(parts)


def render(r: Report, fmt: str, lang: str = "sv") -> str:
    """The report as ``json``, ``csv`` or ``html`` text (``pdf``: :mod:`hub.followup.pdf`);
    ValueError for another format."""
    if fmt == "json":
        return to_json(r)
    if fmt == "csv":
        return to_csv(r, lang)
    if fmt == "html":
        return to_html(r, lang)
    raise ValueError(f"format {fmt!r}: one of json, csv, html")
