"""A batch the SQL database refuses for its content: the refused births and dead letters
are dead-lettered as ``sql_refused``, everything else is committed (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from hub import ingest_poison
from hub.db import Asset, Counter, DeadLetter, Device, open_database
from hub.devices import register
from hub.ingest_batch import Rejected
from hub.ingest_store import BatchWrite, IngestStore
from trygg import contract as c

T0 = 1_790_000_000_000


def _birth(device: str, *, address: str) -> c.Birth:
    asset = c.AssetInfo.model_construct(
        id=f"{device}-lamp",
        kind=c.AssetKind("streetlight"),
        lat=59.3,
        lon=18.0,
        cabinet=None,
        address=address,
        properties={},
    )
    # Built without validation: the content the contract would refuse stands for whatever
    # a database refuses that the contract and text hygiene let through.
    return c.Birth.model_construct(
        v=1,
        device=device,
        boot=1,
        ts=T0,
        firmware="fw",
        site="s",
        device_class="pole",
        heartbeat_s=60.0,
        low=1,
        assets=[asset],
    )


def _letter(device: str, *, size: int) -> Rejected:
    return Rejected("trygg/v1/dev/x/data", device, "schema", "bad", size, b"{}", T0)


@pytest.mark.integration
def test_refused_parts_are_dead_lettered_and_the_rest_committed(sql_url: str) -> None:
    sessions = open_database(sql_url)
    register(sessions, [("good", "s"), ("bad", "s")])
    store = IngestStore(sessions, dead_letter_max=100)
    postgres = sql_url.startswith("postgresql")
    # Too large for a BIGINT column on both databases; NUL only PostgreSQL refuses.
    births = [_birth("good", address="Storgatan 1")]
    if postgres:
        births.append(_birth("bad", address="Storgatan\x00 2"))
    batch = BatchWrite(
        births=births,
        devices={},
        rejected=[_letter("good", size=10), _letter("bad", size=2**70)],
        counters={"messages": 7, "dead.schema": 2},
    )
    poison = ingest_poison.write(store, batch, at_ms=T0 + 1)

    refused = 2 if postgres else 1
    assert [p.reason for p in poison] == ["sql_refused"] * refused
    assert all(p.device == "bad" for p in poison)
    with sessions() as s:
        assets = set(s.scalars(select(Asset.id)))
        letters = [(d.device_id, d.reason) for d in s.scalars(select(DeadLetter))]
        counters = {r.name: r.value for r in s.scalars(select(Counter))}
        bad = s.get(Device, "bad")
    assert assets == {"good-lamp"}
    assert bad is not None
    assert bad.firmware == ""  # the refused birth changed nothing
    assert sorted(letters) == sorted([("good", "schema"), *[("bad", "sql_refused")] * refused])
    assert counters == {"messages": 7, "dead.schema": 2, "dead.sql_refused": refused}
    sessions.kw["bind"].dispose()
    details = [p.detail for p in poison]
    assert all(d.split(":")[0] in ("DataError", "StatementError", "OverflowError") for d in details)


@pytest.mark.integration
def test_a_clean_batch_is_written_once_and_unchanged(sql_url: str) -> None:
    sessions = open_database(sql_url)
    register(sessions, [("good", "s")])
    store = IngestStore(sessions, dead_letter_max=100)
    batch = BatchWrite(
        births=[_birth("good", address="a")],
        devices={},
        rejected=[_letter("good", size=3)],
        counters={"messages": 1},
    )
    assert ingest_poison.write(store, batch, at_ms=T0) == []
    with sessions() as s:
        assert len(s.scalars(select(DeadLetter)).all()) == 1
        assert {r.name: r.value for r in s.scalars(select(Counter))} == {"messages": 1}
    sessions.kw["bind"].dispose()


@pytest.mark.parametrize(
    ("exc", "content"),
    [
        (DataError("s", {}, ValueError("x")), True),
        (IntegrityError("s", {}, ValueError("x")), True),
        (OperationalError("s", {}, ValueError("x")), False),
        (OperationalError("s", {}, ValueError("x"), connection_invalidated=True), False),
        (DataError("s", {}, ValueError("x"), connection_invalidated=True), False),
        (OverflowError("too big"), True),
        (ConnectionResetError("gone"), False),
        (TimeoutError(), False),
    ],
)
def test_what_counts_as_the_content_s_fault(exc: BaseException, content: bool) -> None:
    assert ingest_poison.refused_for_content(exc) is content
