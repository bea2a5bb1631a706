"""The follow-up report as an Excel workbook (openpyxl): one sheet per table, numbers kept
as numbers (shares as 0..1 shown in per cent). Bytes out, nothing written."""

from __future__ import annotations

import io
import re

from openpyxl import Workbook
from openpyxl.styles import Font

from hub.followup.figures import Report
from hub.followup.render import tables

# Excel refuses these in sheet names and allows 31 characters.
_BAD = re.compile(r"[\[\]:*?/\\]")


def to_xlsx(r: Report, lang: str = "sv") -> bytes:
    """The workbook of every table (ValueError for an unknown language)."""
    wb = Workbook()
    wb.remove(wb.active)
    for tb in tables(r, lang):
        ws = wb.create_sheet(_BAD.sub(" ", tb.title)[:31])
        ws.append(list(tb.header))
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in tb.rows:
            ws.append(list(row))
            for i, v in enumerate(row):
                if isinstance(v, float) and i > 0 and tb.is_share(row, i, lang):
                    ws.cell(ws.max_row, i + 1).number_format = "0.0%"
        ws.column_dimensions["A"].width = 48
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
