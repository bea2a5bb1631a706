"""Render page one of a follow-up report PDF to PNG for the README (docs/images/report-page.png).

The report is built by the real pipeline (``hub.followup.figures.report``, ``to_pdf``) from a
small constructed month of hours, tickets, events and alerts: an illustration of the layout,
not measured figures. Needs the dev extra (pypdfium2).

    .venv/bin/python scripts/report_page.py docs/images/report-page.png
"""

from __future__ import annotations

import io
import random
import sys
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image

from hub.followup.crowds import AlertFacts, EventFacts
from hub.followup.figures import Report, TicketFacts, report
from hub.followup.hours import HOUR_MS, HourRow
from hub.followup.pdf import to_pdf
from hub.followup.periods import Period, parse_period

MIN = 60_000


def _month(p: Period, rnd: random.Random, worse: float) -> tuple[list[HourRow], list[TicketFacts]]:
    rows: list[HourRow] = []
    tickets: list[TicketFacts] = []
    for h in range(p.hours):
        t = p.start_ms + h * HOUR_MS
        for lamp in range(12):
            out = rnd.random() < 0.02 * worse
            rows.append(
                HourRow(
                    f"lamp-{lamp}",
                    "streetlight",
                    "centrum",
                    t,
                    "lamp",
                    "unlitDark" if out else "litDark",
                    seconds=1800.0,
                )
            )
            rows.append(
                HourRow(
                    f"lamp-{lamp}",
                    "streetlight",
                    "centrum",
                    t,
                    "lamp",
                    "litDay" if rnd.random() < 0.01 * worse else "unlitDay",
                    seconds=1800.0,
                    amount=30.0,
                )
            )
            rows.append(
                HourRow(
                    f"lamp-{lamp}",
                    "streetlight",
                    "centrum",
                    t,
                    "reporting",
                    "silent" if out else "heard",
                    seconds=3600.0,
                )
            )
        cams = ("degraded" if rnd.random() < 0.03 * worse else "healthy" for _ in range(2))
        rows.extend(
            HourRow(f"cam-{i}", "camera", "centrum", t, "camera", v, seconds=3600.0)
            for i, v in enumerate(cams)
        )
        bins = ("full" if rnd.random() < 0.05 * worse else "notFull" for _ in range(4))
        rows.extend(
            HourRow(f"bin-{i}", "bin", "centrum", t, "bin", v, seconds=3600.0)
            for i, v in enumerate(bins)
        )
        rows.append(
            HourRow(
                "zone-torget",
                "crowd",
                "centrum",
                t,
                "levelOfService",
                rnd.choice("AABBCCDEF" if worse > 1 else "AAABBBCCDE"),
                seconds=3600.0,
            )
        )
    for i in range(int(14 * worse)):
        start = p.start_ms + rnd.randrange(p.hours - 48) * HOUR_MS
        kind = rnd.choice(("lampOut", "graffiti", "binOverflow"))
        tickets.append(
            TicketFacts(
                i,
                kind,
                "lamp-1",
                "centrum",
                start,
                start + rnd.randrange(10, 300) * MIN,
                start + rnd.randrange(2, 40) * HOUR_MS,
                start + 24 * HOUR_MS,
            )
        )
    return rows, tickets


def sample() -> Report:
    rnd = random.Random(7)  # noqa: S311 - a repeatable picture, not a secret
    period = parse_period("2026-03")
    prev = period.previous()
    rows, tickets = _month(prev, rnd, 1.5)
    more_rows, more_tickets = _month(period, rnd, 1.0)
    rows += more_rows
    tickets += [
        TicketFacts(
            t.id + 1000,
            t.kind,
            t.asset,
            t.site,
            t.created_ms,
            t.acknowledged_ms,
            t.resolved_ms,
            t.sla_due_ms,
        )
        for t in more_tickets
    ]
    events = [
        EventFacts(
            "Derby AIK–Djurgården",
            "Solna centrum",
            ("zone-torget",),
            period.start_ms + 13 * 24 * HOUR_MS + 16 * HOUR_MS,
            period.start_ms + 13 * 24 * HOUR_MS + 22 * HOUR_MS,
            45000,
        ),
        EventFacts(
            "Vårmarknad",
            "Solna centrum",
            ("zone-torget",),
            period.start_ms + 27 * 24 * HOUR_MS + 8 * HOUR_MS,
            period.start_ms + 27 * 24 * HOUR_MS + 16 * HOUR_MS,
            8000,
        ),
        EventFacts(
            "Vintermarknad",
            "Solna centrum",
            ("zone-torget",),
            prev.start_ms + 6 * 24 * HOUR_MS + 8 * HOUR_MS,
            prev.start_ms + 6 * 24 * HOUR_MS + 16 * HOUR_MS,
            6000,
        ),
    ]
    alerts = [
        AlertFacts(
            i,
            rnd.choice(("crowdLevel", "crowdRising", "binFire")),
            "zone-torget",
            None,
            p.start_ms + rnd.randrange(p.hours) * HOUR_MS + j,
            p.start_ms + rnd.randrange(p.hours) * HOUR_MS + j + rnd.randrange(1, 25) * MIN,
        )
        for i, (p, j) in enumerate([(prev, 0)] * 9 + [(period, 0)] * 12)
    ]
    alerts = [
        AlertFacts(
            a.id,
            a.kind,
            a.zone,
            a.place,
            a.raised_ms,
            a.raised_ms + ((a.acknowledged_ms or 0) - a.raised_ms) % (25 * MIN),
        )
        for a in alerts
    ]
    return report(period, rows, tickets, place="Solna centrum", events=events, alerts=alerts)


def main(out: str) -> None:
    pdf = pdfium.PdfDocument(to_pdf(sample(), "sv"))
    page = pdf[0].render(scale=1.1).to_pil().convert("RGB")
    img: Image.Image = page.quantize(colors=64)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    Path(out).write_bytes(buf.getvalue())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/images/report-page.png")
