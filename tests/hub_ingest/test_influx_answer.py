"""InfluxDB's answers to ``/write``, classified; refused lines found by splitting. Pure, with
bodies as InfluxDB 1.6.7 (checked here), 2.x and 3.x send them."""

from __future__ import annotations

import pytest

from hub.influx import InfluxWriteError
from hub.influx_answer import Verdict, classify, message_of, unreachable
from hub.influx_batch import DEAD_LETTER_REASON, RefusedLine, dead_letters, write_lines
from tests.purity import io_imported_by

CONFLICT_1X = (
    b'{"error":"partial write: field type conflict: input field \\"f\\" on measurement '
    b'\\"m\\" is type float, already exists as type integer dropped=2"}\n'
)


@pytest.mark.parametrize(
    ("status", "body", "verdict", "schema_missing", "too_large", "reason"),
    [
        (204, b"", Verdict.STORED, False, False, None),
        (200, b"", Verdict.STORED, False, False, None),
        (400, CONFLICT_1X, Verdict.REFUSED_DATA, False, False, None),
        (400, b'{"error":"field type conflict"}', Verdict.REFUSED_DATA, False, False, None),
        (
            400,
            b'{"error":"unable to parse \'bad line\': invalid field format"}',
            Verdict.REFUSED_DATA,
            False,
            False,
            None,
        ),
        (
            400,
            b'{"error":"partial write: points beyond retention policy dropped=1"}',
            Verdict.REFUSED_DATA,
            False,
            False,
            None,
        ),
        (
            422,
            b'{"code":"unprocessable entity","message":"failure writing points to database: '
            b'partial write: field type conflict: input field \\"v\\" on measurement \\"bin\\" '
            b'is type integer, already exists as type float dropped=1"}',
            Verdict.REFUSED_DATA,
            False,
            False,
            None,
        ),
        (
            400,
            b'{"code":"invalid","message":"partial write of line protocol occurred"}',
            Verdict.REFUSED_DATA,
            False,
            False,
            None,
        ),
        (
            404,
            b'{"error":"database not found: \\"trygg\\""}',
            Verdict.NOT_STORED,
            True,
            False,
            'InfluxDB refuses writes: 404 database not found: "trygg"',
        ),
        (
            500,
            b'{"error":"retention policy not found: raw"}',
            Verdict.NOT_STORED,
            True,
            False,
            "InfluxDB refuses writes: 500 retention policy not found: raw",
        ),
        (
            404,
            b'{"code":"not found","message":"bucket \\"trygg/raw\\" not found"}',
            Verdict.NOT_STORED,
            False,
            False,
            'InfluxDB refuses writes: 404 bucket "trygg/raw" not found',
        ),
        (
            401,
            b'{"error":"authorization failed"}',
            Verdict.NOT_STORED,
            False,
            False,
            "InfluxDB refuses writes: 401 authorization failed",
        ),
        (
            403,
            b"",
            Verdict.NOT_STORED,
            False,
            False,
            "InfluxDB refuses writes: 403 forbidden",
        ),
        (
            413,
            b'{"error":"Request Entity Too Large"}',
            Verdict.NOT_STORED,
            False,
            True,
            "InfluxDB refuses writes: 413 Request Entity Too Large",
        ),
        (
            429,
            b"",
            Verdict.NOT_STORED,
            False,
            False,
            "InfluxDB refuses writes: 429 too many requests",
        ),
        (503, b"busy", Verdict.NOT_STORED, False, False, "InfluxDB refuses writes: 503 busy"),
        # A 400 that names no point's content is not the data's fault.
        (
            400,
            b'{"error":"database is required"}',
            Verdict.NOT_STORED,
            False,
            False,
            "InfluxDB refuses writes: 400 database is required",
        ),
        # Content words in a non-400/422 answer do not make it the data's fault.
        (
            500,
            b'{"error":"partial write: timeout"}',
            Verdict.NOT_STORED,
            False,
            False,
            "InfluxDB refuses writes: 500 partial write: timeout",
        ),
    ],
)
def test_classify(
    status: int,
    body: bytes,
    verdict: Verdict,
    schema_missing: bool,
    too_large: bool,
    reason: str | None,
) -> None:
    answer = classify(status, body)
    assert answer.verdict is verdict
    assert answer.schema_missing is schema_missing
    assert answer.too_large is too_large
    if reason is not None:
        assert answer.reason() == reason
    # Only a stored answer may ever let the hub acknowledge data as InfluxDB's.
    assert answer.stored is (verdict is Verdict.STORED)
    error = InfluxWriteError(answer)
    assert error.retryable is (verdict is Verdict.NOT_STORED)


def test_influxdb_counts_and_messages_are_read() -> None:
    assert classify(400, CONFLICT_1X).dropped == 2
    assert classify(400, b'{"error":"field type conflict"}').dropped is None
    assert message_of(b"  plain\ntext  ") == "plain text"
    assert len(message_of(b"x" * 5000)) == 400
    assert message_of(b'{"error": 5}') == '{"error": 5}'
    gone = unreachable("ConnectionRefusedError(111)")
    assert gone.verdict is Verdict.NOT_STORED
    assert gone.status is None
    assert gone.reason() == "InfluxDB unreachable: ConnectionRefusedError(111)"


class FakeInflux:
    """Refuses, per request, the lines that contain ``bad`` (1.x's partial write, storing
    the rest) or the whole request (``whole``); counts what it stored."""

    def __init__(self, *, whole: bool = False, max_lines: int | None = None) -> None:
        self.whole = whole
        self.max_lines = max_lines
        self.stored: list[str] = []
        self.requests = 0
        self.down: str | None = None

    async def write(self, body: bytes) -> None:
        self.requests += 1
        lines = body.decode().split("\n")
        if self.down is not None:
            raise InfluxWriteError(classify(404, self.down.encode()))
        if self.max_lines is not None and len(lines) > self.max_lines:
            raise InfluxWriteError(classify(413, b""))
        bad = [line for line in lines if "bad" in line]
        if bad and self.whole:
            raise InfluxWriteError(classify(400, b'{"error":"field type conflict"}'))
        self.stored += [line for line in lines if "bad" not in line]
        if bad:
            text = f'{{"error":"partial write: field type conflict: {bad[0]} dropped={len(bad)}"}}'
            raise InfluxWriteError(classify(400, text.encode()))


@pytest.mark.parametrize("whole", [False, True])
async def test_only_the_refused_lines_come_back_and_every_other_is_stored(whole: bool) -> None:
    influx = FakeInflux(whole=whole)
    lines = [
        f"m,device=d{i} v={i} {i}" if i % 7 else f"m,device=d{i} bad={i} {i}" for i in range(50)
    ]
    refused = await write_lines(influx.write, lines)
    assert sorted(r.line for r in refused) == sorted(x for x in lines if "bad" in x)
    assert set(influx.stored) == {x for x in lines if "bad" not in x}
    assert all("field type conflict" in r.message for r in refused)


async def test_a_request_whose_every_line_was_dropped_is_not_split() -> None:
    influx = FakeInflux()
    lines = [f"m bad={i} {i}" for i in range(64)]
    refused = await write_lines(influx.write, lines)
    assert len(refused) == 64
    assert influx.requests == 1


async def test_too_large_is_split_until_it_passes() -> None:
    influx = FakeInflux(max_lines=10)
    lines = [f"m v={i} {i}" for i in range(100)]
    assert await write_lines(influx.write, lines) == []
    assert sorted(influx.stored) == sorted(lines)


async def test_a_single_line_too_large_is_not_stored_and_not_refused() -> None:
    influx = FakeInflux(max_lines=0)
    with pytest.raises(InfluxWriteError) as raised:
        await write_lines(influx.write, ["m v=1 1"])
    assert raised.value.answer.too_large


async def test_a_refusal_not_the_datas_fault_raises_even_mid_split() -> None:
    influx = FakeInflux(whole=True)
    lines = [f"m v={i} {i}" for i in range(10)] + ["m bad=1 1"]

    async def write(body: bytes) -> None:
        await influx.write(body)
        if influx.requests >= 2:  # the database is dropped while the batch is split
            influx.down = '{"error":"database not found: \\"x\\""}'

    with pytest.raises(InfluxWriteError) as raised:
        await write_lines(write, lines)
    assert raised.value.answer.schema_missing


def test_dead_letters_carry_the_line_its_device_and_influxdbs_message() -> None:
    line = r"bin,asset=a1,device=pole\ 7,site=s fill=3i 1000"
    [dead] = dead_letters([RefusedLine(line, "partial write: x dropped=1")], at_ms=5)
    assert dead.device == "pole 7"
    assert dead.reason == DEAD_LETTER_REASON
    assert dead.detail == "partial write: x dropped=1"
    assert dead.payload == line.encode()
    assert dead.size == len(line)
    assert dead.at_ms == 5
    [nameless] = dead_letters([RefusedLine("m v=1 1", "m")], at_ms=5)
    assert nameless.device is None


def test_the_classification_imports_no_io() -> None:
    assert io_imported_by("hub.influx_answer") == []
