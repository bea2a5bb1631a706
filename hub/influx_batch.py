"""Writing a batch of line-protocol lines so that each line ends either stored or refused
for its content, with InfluxDB's reason; anything else raises and the caller keeps the batch.

Why split: InfluxDB names at most the first point it refused (``field type conflict: input
field "v" on measurement "bin" ... dropped=3``), and 1.x refuses a whole request for a type
conflict inside it, so the refused lines are found by writing halves until single lines
remain. Writing a stored point again is harmless (InfluxDB keeps one point per series and
time), so re-sending the half that was already stored neither loses nor doubles anything.
A 413 (body too large) is split the same way, until the pieces pass.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final

from hub.influx import InfluxWriteError
from hub.ingest_batch import DEAD_LETTER_PAYLOAD_BYTES, Rejected

Write = Callable[[bytes], Awaitable[None]]
DEAD_LETTER_REASON: Final = "influx_rejected"
# Where a refused point's dead letter says it came from: InfluxDB, not an MQTT topic.
DEAD_LETTER_TOPIC: Final = "influxdb/write"


@dataclass(frozen=True, slots=True)
class RefusedLine:
    line: str
    message: str  # InfluxDB's own words


async def write_lines(write: Write, lines: Sequence[str]) -> list[RefusedLine]:
    """Write ``lines`` through ``write``; returns the lines InfluxDB refused for their
    content (every other line is stored). Raises :class:`InfluxWriteError` when some part
    could not be stored for a reason that is not the data's (then nothing is refused: the
    caller keeps and re-sends the whole batch)."""
    refused: list[RefusedLine] = []
    await _write(write, list(lines), refused)
    return refused


async def _write(write: Write, lines: list[str], refused: list[RefusedLine]) -> None:
    if not lines:
        return
    try:
        await write("\n".join(lines).encode())
        return
    except InfluxWriteError as exc:
        answer = exc.answer
        if answer.refused_data:
            if len(lines) == 1 or answer.dropped == len(lines):
                # InfluxDB's own count says every line was refused: no need to split.
                refused += (RefusedLine(line, answer.message) for line in lines)
                return
        elif not (answer.too_large and len(lines) > 1):
            raise
    mid = len(lines) // 2
    await _write(write, lines[:mid], refused)
    await _write(write, lines[mid:], refused)


_DEVICE_TAG = re.compile(r"(?<!\\),device=((?:\\.|[^,\s\\])+)")
_UNESCAPE = re.compile(r"\\(.)")
_SERIES_KEY = re.compile(r"(?:\\.|[^ \\])*")  # up to the first unescaped space


def dead_letters(refused: Sequence[RefusedLine], *, at_ms: int) -> list[Rejected]:
    """Dead letters for lines InfluxDB refused: the line itself, InfluxDB's message, and
    the device named by the line's ``device`` tag."""
    out = []
    for r in refused:
        key = _SERIES_KEY.match(r.line)
        found = _DEVICE_TAG.search(key.group(0)) if key else None
        payload = r.line.encode()
        out.append(
            Rejected(
                topic=DEAD_LETTER_TOPIC,
                device=_UNESCAPE.sub(r"\1", found.group(1))[:64] if found else None,
                reason=DEAD_LETTER_REASON,
                detail=r.message,
                size=len(payload),
                payload=payload[:DEAD_LETTER_PAYLOAD_BYTES],
                at_ms=at_ms,
            )
        )
    return out
