"""The follow-up report's cost: the hourly history per asset, the figures and the PDF.

Builds a synthetic hourly history (``asset_hours`` rows as the hub writes them: lamps,
bins and cameras, each hour ``reporting`` plus its state field, some hours split between
two values), stores it in a fresh SQLite file, then times loading a period, computing the
figures with the previous period and rendering the PDF. The size is small enough for a
shared machine; the summary extrapolates storage to five years and the yearly figures to a
20,000-asset city linearly in rows. Run with ``python -m bench.report [ASSETS] [DAYS]``.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

from hub.db import open_database
from hub.followup.figures import report
from hub.followup.hours import HOUR_MS, HourRow
from hub.followup.pdf import to_pdf
from hub.followup.periods import between
from hub.followup.store import load_hours, replace_hours

CITY_ASSETS = 20_000
KINDS = (
    ("streetlight", "lamp", ("litDark", "litDay", "unlitDark")),
    ("bin", "bin", ("notFull", "full")),
    ("camera", "camera", ("healthy", "degraded")),
)


def _rows(assets: int, start_ms: int, hours: int, rnd: random.Random) -> list[HourRow]:
    out: list[HourRow] = []
    for i in range(assets):
        kind, fld, values = KINDS[i % len(KINDS)]
        a = f"{kind}-{i}"
        for h in range(hours):
            t = start_ms + h * HOUR_MS
            out.append(HourRow(a, kind, "centrum", t, "reporting", "heard", 3600.0))
            if rnd.random() < 0.1:
                cut = rnd.uniform(0, 3600)
                out.append(HourRow(a, kind, "centrum", t, fld, values[0], cut, 0.05 * cut))
                out.append(HourRow(a, kind, "centrum", t, fld, values[1], 3600 - cut))
            else:
                out.append(
                    HourRow(a, kind, "centrum", t, fld, values[h % 2 and len(values) > 2], 3600.0)
                )
    return out


def main() -> None:
    assets = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    days = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    rnd = random.Random(7)
    period = (
        between("2026-03-01", f"2026-03-{days:02d}")
        if days <= 31
        else between("2026-01-01", "2026-12-31")
    )
    prev = period.previous()
    hours = (period.end_ms - prev.start_ms) // HOUR_MS
    rows = _rows(assets, prev.start_ms, hours, rnd)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "hub.sqlite"
        sessions = open_database(f"sqlite:///{db}")
        t0 = time.perf_counter()
        with sessions.begin() as s:
            replace_hours(s, start_ms=prev.start_ms, end_ms=period.end_ms, rows=rows)
        store_s = time.perf_counter() - t0
        size = db.stat().st_size
        t0 = time.perf_counter()
        with sessions() as s:
            loaded = load_hours(s, start_ms=prev.start_ms, end_ms=period.end_ms)
        load_s = time.perf_counter() - t0
        sessions.kw["bind"].dispose()
    t0 = time.perf_counter()
    r = report(period, loaded, [])
    figures_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pdf = to_pdf(r)
    pdf_s = time.perf_counter() - t0
    n = len(rows)
    per_asset_year = size / assets / hours * 8766
    city_year_rows = n / assets / hours * 2 * 8766 * CITY_ASSETS
    result = {
        "assets": assets,
        "hours_both_periods": hours,
        "rows": n,
        "sqlite_bytes": size,
        "bytes_per_asset_year": per_asset_year,
        "store_s": store_s,
        "load_s": load_s,
        "figures_s": figures_s,
        "pdf_s": pdf_s,
        "pdf_bytes": len(pdf),
        "city_year_with_previous_rows": city_year_rows,
        "city_year_load_and_figures_s_extrapolated": (load_s + figures_s) / n * city_year_rows,
        "city_five_years_gb": per_asset_year * 5 * CITY_ASSETS / 1e9,
    }
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(result, indent=2))
    print(
        f"{n} rows ({assets} assets, {hours} h): load {load_s:.2f} s, figures {figures_s:.2f} s, "
        f"pdf {pdf_s:.2f} s; {per_asset_year / 1e6:.2f} MB per asset-year; a 20,000-asset "
        f"year with its previous: {city_year_rows / 1e6:.0f} M rows, "
        f"~{result['city_year_load_and_figures_s_extrapolated']:.0f} s, "
        f"five years {result['city_five_years_gb']:.0f} GB"
    )


if __name__ == "__main__":
    main()
