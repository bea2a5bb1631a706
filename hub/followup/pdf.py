"""The follow-up report as a PDF (reportlab): title, period, one chart of the shares this
period against the previous one, and every table. Bytes out, nothing written."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Final

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from hub.followup.figures import Report
from hub.followup.render import LABELS, fmt_cell, tables

CURRENT: Final = colors.HexColor("#1f6f8b")
PREVIOUS: Final = colors.HexColor("#a7c4cf")


def _chart(r: Report, lang: str) -> Drawing | None:
    """Bars of every share figure (0..100 %), this period and the previous."""
    t = LABELS[lang]
    pairs = [
        (t["availability"], r.current.lighting.availability, r.previous.lighting.availability),
        (t["camera_availability"], r.current.camera_availability, r.previous.camera_availability),
        (t["graffiti"], r.current.graffiti_within_24h, r.previous.graffiti_within_24h),
        *(
            (f"{t['reporting']}: {k}", v, r.previous.availability.get(k))
            for k, v in sorted(r.current.availability.items())
        ),
    ]
    pairs = [p for p in pairs if p[1] is not None or p[2] is not None]
    if not pairs:
        return None
    height = 30 + 24 * len(pairs)
    d = Drawing(170 * mm, height + 20)
    c = HorizontalBarChart()
    c.x, c.y, c.width, c.height = 95 * mm, 20, 70 * mm, height - 10
    c.data = [
        [100.0 * (p[1] or 0.0) for p in reversed(pairs)],
        [100.0 * (p[2] or 0.0) for p in reversed(pairs)],
    ]
    c.categoryAxis.categoryNames = [p[0][:48] for p in reversed(pairs)]
    c.categoryAxis.labels.fontSize = 7
    c.categoryAxis.labels.boxAnchor = "e"
    c.valueAxis.valueMin, c.valueAxis.valueMax, c.valueAxis.valueStep = 0, 100, 20
    c.valueAxis.labels.fontSize = 7
    c.bars[0].fillColor, c.bars[1].fillColor = CURRENT, PREVIOUS
    c.bars.strokeColor = None
    d.add(c)
    legend = Legend()
    legend.x, legend.y, legend.fontSize = 95 * mm, height + 14, 7
    legend.alignment = "right"
    legend.columnMaximum = 1
    legend.colorNamePairs = [(CURRENT, r.current.period), (PREVIOUS, r.previous.period)]
    d.add(legend)
    return d


def _page(title: str) -> Callable[[Canvas, object], None]:
    """A band at the top and the title and page number at the foot of every page."""

    def draw(canvas: Canvas, doc: object) -> None:
        w, h = A4
        canvas.saveState()
        canvas.setFillColor(CURRENT)
        canvas.rect(0, h - 8 * mm, w, 8 * mm, stroke=0, fill=1)
        canvas.setFont("Helvetica", 7)
        canvas.setFillColor(colors.grey)
        canvas.drawString(18 * mm, 10 * mm, title)
        canvas.drawRightString(w - 18 * mm, 10 * mm, str(canvas.getPageNumber()))
        canvas.restoreState()

    return draw


def to_pdf(r: Report, lang: str = "sv") -> bytes:
    """A4 PDF of the report (ValueError for an unknown language)."""
    if lang not in LABELS:
        raise ValueError(f"language {lang!r}: one of {', '.join(LABELS)}")
    t = LABELS[lang]
    styles = getSampleStyleSheet()
    out = io.BytesIO()
    title = f"{t['title']} {r.place} {r.current.period}"
    doc = SimpleDocTemplate(
        out, pagesize=A4, title=title, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm
    )
    cur = r.current
    story: list[object] = [
        Paragraph(title, styles["Title"]),
        Paragraph(
            f"{t['period']}: {cur.first} – {cur.last} ({cur.hours} h). "
            f"{t['previous']}: {r.previous.period}.",
            styles["Normal"],
        ),
        Spacer(1, 6 * mm),
    ]
    chart = _chart(r, lang)
    if chart is not None:
        story += [chart, Spacer(1, 4 * mm)]
    small = styles["BodyText"].clone("small", fontSize=7, leading=8)
    for tb in tables(r, lang):
        wide = len(tb.header) > 4
        cell_style = small if wide else styles["BodyText"]
        head_style = cell_style.clone("head", alignment=TA_RIGHT)
        data: list[list[object]] = [
            [
                Paragraph(tb.header[0], cell_style),
                *(Paragraph(h, head_style) for h in tb.header[1:]),
            ]
        ]
        for row in tb.rows:
            values = (fmt_cell(v, t["none"], tb.is_share(row, i, lang)) for i, v in enumerate(row))
            data.append([Paragraph(str(row[0]), cell_style), *list(values)[1:]])
        widths = None if wide else [70 * mm, 45 * mm, 45 * mm]
        table = Table(data, repeatRows=1, hAlign="LEFT", colWidths=widths)
        table.setStyle(
            TableStyle(
                [
                    ("FONTSIZE", (0, 0), (-1, -1), 7 if wide else 9),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef3f5")),
                    ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
                    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ]
            )
        )
        story += [KeepTogether([Paragraph(tb.title, styles["Heading2"]), table]), Spacer(1, 4 * mm)]
    doc.build(story, onFirstPage=_page(title), onLaterPages=_page(title))
    return out.getvalue()
