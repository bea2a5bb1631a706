"""The follow-up report's cost for a 20,000-asset city, on SQLite or PostgreSQL.

Two parts, both stored through the hub's own tables and code:

- **city year**: a year and its previous year of month rows (``asset_spans``) for
  ``--assets`` lamps, bins and cameras, as the roll-up leaves them, and a ticket history
  (``--tickets-per-asset`` a year, acknowledged and mostly resolved); then the time to
  compute the year's figures with the previous year (``build_report``) and to render the PDF;
- **five-year storage**: ``--sample`` assets with five years of day rows, their months
  summed by the real roll-up, and 92 days of hours; the bytes per asset of those tables.

Run ``python -m bench.report [--assets N] [--postgres]``; a scratch PostgreSQL is started
for ``--postgres``.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from hub.db import AssetHour, AssetSpan, Ticket, open_database
from hub.db import Counter as CounterRow
from hub.followup.grain import next_month
from hub.followup.hours import HOUR_MS
from hub.followup.load import build_report
from hub.followup.pdf import to_pdf
from hub.followup.periods import parse_period
from hub.followup.rollup import DAYS_MARK, HOURS_KEPT_DAYS, MONTHS_MARK
from hub.followup.spans import MONTH, roll_up
from trygg.clock import from_ms
from trygg.pgserver import PostgresServer

KINDS = (
    ("streetlight", "lamp", ("litDark", "litDay", "unlitDark")),
    ("bin", "bin", ("notFull", "full")),
    ("camera", "camera", ("healthy", "degraded")),
)
TICKET_KINDS = ("lamp_out", "bin_full", "graffiti", "camera_degraded")
BATCH = 50_000


def _span_rows(
    assets: int, firsts: list[date], span: str, rnd: random.Random
) -> Iterator[dict[str, Any]]:
    """Rows of each asset for each span: reporting heard/silent, its state field split
    between values, and bins' collections."""
    for i in range(assets):
        kind, fld, values = KINDS[i % len(KINDS)]
        a = f"{kind}-{i}"
        for first in firsts:
            length = (next_month(first) - first).days if span == MONTH else 1
            whole = length * 86_400.0
            base = {"asset": a, "span": span, "first": first, "kind": kind, "site": "centrum"}
            silent = round(whole * rnd.uniform(0, 0.03), 3)
            yield base | {
                "field": "reporting",
                "value": "heard",
                "seconds": whole - silent,
                "amount": 0.0,
                "count": 0,
            }
            yield base | {
                "field": "reporting",
                "value": "silent",
                "seconds": silent,
                "amount": 0.0,
                "count": 0,
            }
            left = whole
            for v in values[1:]:
                part = round(whole * rnd.uniform(0, 0.4 / len(values)), 3)
                left -= part
                yield base | {
                    "field": fld,
                    "value": v,
                    "seconds": part,
                    "amount": round(part * 0.05, 3),
                    "count": 0,
                }
            yield base | {
                "field": fld,
                "value": values[0],
                "seconds": round(left, 3),
                "amount": 0.0,
                "count": 0,
            }
            if kind == "bin":
                n = max(1, round(length * rnd.uniform(0.5, 1.5)))
                yield base | {
                    "field": "event",
                    "value": "collection",
                    "seconds": 0.0,
                    "amount": 0.0,
                    "count": n,
                }


def _insert(s: Session, table: Any, rows: Iterator[dict[str, Any]]) -> int:
    n, batch = 0, []
    for r in rows:
        batch.append(r)
        if len(batch) == BATCH:
            s.execute(insert(table), batch)
            n, batch = n + len(batch), []
    if batch:
        s.execute(insert(table), batch)
    return n + len(batch)


def _tickets(
    assets: int, per_asset: float, start: datetime, days: int, rnd: random.Random
) -> Iterator[dict[str, Any]]:
    for _ in range(round(assets * per_asset * days / 365)):
        created = start + timedelta(seconds=rnd.uniform(0, days * 86_400))
        ack = created + timedelta(hours=rnd.expovariate(1 / 2))
        resolved = ack + timedelta(hours=rnd.expovariate(1 / 20)) if rnd.random() < 0.9 else None
        yield {
            "kind": rnd.choice(TICKET_KINDS),
            "status": "resolved" if resolved else "open",
            "priority": 2,
            "asset_id": f"streetlight-{3 * rnd.randrange(assets // 3)}",
            "title": "bench",
            "sla_due": created + timedelta(hours=48),
            "created_at": created,
            "updated_at": resolved or ack,
            "resolved_at": resolved,
            "acknowledged_at": ack,
            "reopen_count": int(rnd.random() < 0.03),
        }


def city_year(sessions: sessionmaker[Session], assets: int, per_asset: float) -> dict[str, Any]:
    rnd = random.Random(7)
    year = parse_period("2026")
    months = [date(2025 + m // 12, m % 12 + 1, 1) for m in range(24)]
    t0 = time.perf_counter()
    with sessions.begin() as s:
        rows = _insert(s, AssetSpan, _span_rows(assets, months, MONTH, rnd))
        start = datetime(2025, 1, 1, tzinfo=UTC)
        tickets = _insert(s, Ticket, _tickets(assets, per_asset, start, 730, rnd))
        s.merge(CounterRow(name=DAYS_MARK, value=date(2027, 1, 1).toordinal()))
        s.merge(CounterRow(name=MONTHS_MARK, value=date(2027, 1, 1).toordinal()))
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with sessions() as s:
        r = build_report(s, year)
    figures_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pdf = to_pdf(r)
    pdf_s = time.perf_counter() - t0
    return {
        "assets": assets,
        "month_rows": rows,
        "tickets": tickets,
        "build_s": build_s,
        "figures_s": figures_s,
        "pdf_s": pdf_s,
        "pdf_bytes": len(pdf),
        "report_s": figures_s + pdf_s,
        "lamps_reported": r.current.lighting.lamps,
        "tickets_reported": sum(x.opened for x in r.current.repairs),
    }


def _hour_rows(
    assets: int, start_ms: int, hours: int, rnd: random.Random
) -> Iterator[dict[str, Any]]:
    for i in range(assets):
        kind, fld, values = KINDS[i % len(KINDS)]
        for h in range(hours):
            base = {
                "asset": f"{kind}-{i}",
                "hour": from_ms(start_ms + h * HOUR_MS),
                "kind": kind,
                "site": "centrum",
            }
            yield base | {
                "field": "reporting",
                "value": "heard",
                "seconds": 3600.0,
                "amount": 0.0,
                "count": 0,
            }
            cut = round(rnd.uniform(0, 3600), 3) if rnd.random() < 0.1 else 3600.0
            yield base | {
                "field": fld,
                "value": values[0],
                "seconds": cut,
                "amount": 0.0,
                "count": 0,
            }
            if cut < 3600.0:
                yield base | {
                    "field": fld,
                    "value": values[1],
                    "seconds": 3600.0 - cut,
                    "amount": 0.0,
                    "count": 0,
                }


def five_years(sessions: sessionmaker[Session], url: str, assets: int) -> dict[str, Any]:
    rnd = random.Random(11)
    first = date(2022, 1, 1)
    days = [first + timedelta(days=d) for d in range(5 * 365 + 1)]
    hours = HOURS_KEPT_DAYS * 24
    with sessions.begin() as s:
        s.execute(text("DELETE FROM asset_spans"))
        s.execute(text("DELETE FROM tickets"))
        day_rows = _insert(s, AssetSpan, _span_rows(assets, days, "day", rnd))
        m = first
        while next_month(m) <= days[-1]:
            roll_up(s, span=MONTH, first=m)
            m = next_month(m)
        start_ms = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp() * 1000)
        hour_rows = _insert(s, AssetHour, _hour_rows(assets, start_ms, hours, rnd))
        month_rows = int(s.scalar(select(func.count()).where(AssetSpan.span == MONTH)) or 0)
    if url.startswith("sqlite"):
        with sessions() as s:
            s.execute(text("VACUUM"))
        size = Path(url.removeprefix("sqlite:///")).stat().st_size
    else:
        engine = sessions.kw["bind"]
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM FULL asset_spans, asset_hours"))
            q = "SELECT pg_total_relation_size('asset_spans') + pg_total_relation_size('asset_hours')"
            size = int(c.scalar(text(q)) or 0)
    return {
        "sample_assets": assets,
        "sample_day_rows": day_rows,
        "sample_month_rows": month_rows,
        "sample_hour_rows": hour_rows,
        "bytes": size,
        "bytes_per_asset_five_years": size / assets,
        "city_gb": size / assets * 20_000 / 1e9,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", type=int, default=20_000)
    ap.add_argument("--tickets-per-asset", type=float, default=1.0)
    ap.add_argument("--sample", type=int, default=100)
    ap.add_argument("--postgres", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = PostgresServer() if args.postgres else None
        if server:
            server.start()
        try:
            url = server.url() if server else f"sqlite:///{tmp}/hub.sqlite"
            sessions = open_database(url)
            city = city_year(sessions, args.assets, args.tickets_per_asset)
            print(json.dumps(city), flush=True)
            store = five_years(sessions, url, args.sample)
            sessions.kw["bind"].dispose()
        finally:
            if server:
                server.stop()
    result = {"database": "postgresql" if server else "sqlite", **city, **store}
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"report-{result['database']}.json").write_text(json.dumps(result, indent=2))
    print(
        f"{result['database']}: {args.assets} assets, {city['month_rows']} month rows, "
        f"{city['tickets']} tickets; the year's figures with the previous year "
        f"{city['figures_s']:.2f} s, PDF {city['pdf_s']:.2f} s; five years "
        f"{store['bytes_per_asset_five_years'] / 1e6:.2f} MB per asset "
        f"({store['city_gb']:.1f} GB for 20,000 assets)"
    )


if __name__ == "__main__":
    main()
