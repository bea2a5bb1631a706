"""The ingest's sequence bookkeeping (one owner) and the sealed batch between its stages:
keys in flight count as taken until stored, a birth registers its device and aligns its
stream, what is handed out is a snapshot, and a sealed batch shares nothing with the draft
that made it."""

from __future__ import annotations

import dataclasses

import pytest

from hub.dedup import SeqState
from hub.ingest_batch import Classifier, Draft
from hub.sequences import SeqRow, Sequences
from tests.rules.scenario import Pole
from trygg import contract as c
from trygg.clock import from_ms

T = 1_790_000_000_000


def _birth(pole: Pole, *, boot: int, low: int) -> c.Birth:
    return pole.birth(from_ms(T)).model_copy(update={"boot": boot, "low": low})


def test_keys_in_flight_are_taken_until_stored_and_forgotten_with_the_session() -> None:
    seqs = Sequences()
    seqs.load(["d1"], {"d1": SeqState(watermark=2, max_seen=2)})
    assert seqs.taken(("d1", 2))  # stored
    assert not seqs.taken(("d1", 3))
    seqs.hold(("d1", 3))
    assert seqs.taken(("d1", 3))  # in flight
    seqs.forget_pending()  # a new session: the broker re-delivers it
    assert not seqs.taken(("d1", 3))
    seqs.hold(("d1", 3))
    seqs.hold(("d1", 5))
    assert seqs.advance([("d1", 3), ("d1", 5)]) == {"d1": 1}  # 4 is missing
    assert seqs.in_flight() == 0
    assert seqs.watermark("d1") == 3
    assert seqs.has_hole("d1")
    assert seqs.row("d1") == SeqRow(watermark=3, above=(5,), gaps=1, lost=0, boot=0)


def test_a_birth_registers_its_device_and_gives_up_what_it_no_longer_holds() -> None:
    pole = Pole("p1", lamps=1)
    seqs = Sequences()
    assert not seqs.is_known(pole.device)
    assert seqs.born(_birth(pole, boot=2, low=1)) == 0
    assert seqs.is_known(pole.device)
    seqs.hold((pole.device, 1))
    seqs.advance([(pole.device, 1)])
    # The device holds nothing below 5 any more: 2, 3 and 4 are lost.
    assert seqs.born(_birth(pole, boot=2, low=5)) == 3
    assert seqs.row(pole.device) == SeqRow(watermark=4, above=(), gaps=0, lost=3, boot=2)


def test_a_reflashed_device_starts_its_stream_again_and_drops_its_old_keys_in_flight() -> None:
    pole = Pole("p1", lamps=1)
    seqs = Sequences()
    seqs.born(_birth(pole, boot=5, low=1))
    seqs.hold((pole.device, 40))
    seqs.born(_birth(pole, boot=1, low=1))  # boot went backwards: re-flashed
    assert seqs.in_flight() == 0
    assert seqs.row(pole.device) == SeqRow(watermark=0, above=(), gaps=0, lost=0, boot=1)


def test_a_row_is_a_snapshot_not_a_view() -> None:
    seqs = Sequences()
    seqs.load(["d1"], {})
    seqs.taken(("d1", 1))
    seqs.advance([("d1", 2)])
    before = seqs.row("d1")
    seqs.advance([("d1", 1), ("d1", 4)])
    assert before == SeqRow(watermark=0, above=(2,), gaps=0)
    assert seqs.row("d1") == SeqRow(watermark=2, above=(4,), gaps=1)
    assert seqs.row("unknown") == SeqRow()


def test_a_sealed_batch_is_frozen_and_shares_nothing_with_its_draft() -> None:
    pole = Pole("p1", lamps=1)
    seqs = Sequences()
    classifier = Classifier(sequences=seqs)
    seqs.load([pole.device], {})
    draft = Draft(received_ms=T)
    data = c.Data(
        device=pole.device,
        site="s",
        boot=1,
        seq=1,
        readings=[
            c.Reading(
                asset=pole.device, kind=c.AssetKind.DEVICE, sensor="pi", field="cpuLoad", t=T, v=1.0
            )
        ],
    )
    classifier.one(draft, c.topic_for(pole.device, c.Kind.DATA), c.encode(data))
    batch = draft.seal()
    assert (len(batch.lines), list(batch.marks), set(batch.touched)) == (
        1,
        [(pole.device, 1)],
        {pole.device},
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        batch.lines = []  # type: ignore[misc]
    classifier.one(draft, c.topic_for(pole.device, c.Kind.DATA), c.encode(data))  # a duplicate
    assert draft.delta.duplicates == 1
    assert (len(batch.lines), batch.delta.duplicates, batch.delta.readings) == (1, 0, 1)
    assert draft.lines == []
