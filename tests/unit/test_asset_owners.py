"""Each asset belongs to one device: the classifier refuses readings, events and births that
name another device's asset (``foreign_asset``) or declare too many (``too_many_assets``),
and such a message changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.asset_owners import AssetOwners
from hub.db import Asset, open_database
from hub.devices import register
from hub.ingest_batch import Classifier, Draft
from hub.ingest_store import BatchWrite, IngestStore
from hub.sequences import Sequences
from tests.rules.scenario import Pole
from trygg import contract as c
from trygg.clock import to_ms

NOW = datetime(2026, 12, 15, 17, 0, tzinfo=UTC)


def _hub(max_per_device: int = 64) -> tuple[Classifier, Sequences, Pole, Pole]:
    victim, attacker = Pole("victim", lamps=2), Pole("attacker", lamps=1)
    sequences = Sequences()
    sequences.load([victim.device, attacker.device], {})
    owners = AssetOwners(is_known=sequences.is_known, max_per_device=max_per_device)
    owners.load([(victim.bin, victim.device)])  # as the assets table has it at start
    classifier = Classifier(sequences=sequences, owners=owners)
    for pole in (victim, attacker):
        batch = Draft(received_ms=0)
        classifier.one(batch, c.topic_for(pole.device, c.Kind.BIRTH), c.encode(pole.birth(NOW)))
        assert batch.rejected == []
    return classifier, sequences, victim, attacker


def _one(classifier: Classifier, device: str, kind: c.Kind, payload: bytes) -> Draft:
    batch = Draft(received_ms=0)
    classifier.one(batch, c.topic_for(device, kind), payload)
    return batch


def _item(asset: str, kind: c.AssetKind) -> c.Reading:
    return c.Reading(asset=asset, kind=kind, sensor="s", field="temperature", t=to_ms(NOW), v=90.0)


@pytest.mark.parametrize("which", ["bin", "camera", "lamp", "device"])
def test_readings_and_events_for_another_devices_asset_are_refused(which: str) -> None:
    classifier, sequences, victim, attacker = _hub()
    asset = {
        "bin": victim.bin,
        "camera": victim.camera,
        "lamp": victim.lamp(1),
        "device": victim.device,
    }[which]
    own = _item(attacker.lamp(0), c.AssetKind.STREETLIGHT)
    # The foreign reading hides behind a valid one: the whole message is refused.
    data = c.Data(
        device=attacker.device,
        site="s",
        boot=1,
        seq=1,
        readings=[own, _item(asset, c.AssetKind.BIN)],
    )
    event = attacker.event(NOW, asset, c.AssetKind.CAMERA, "cameraCovered", active=False)
    for kind, message in ((c.Kind.DATA, data), (c.Kind.EVENT, event)):
        batch = _one(classifier, attacker.device, kind, c.encode(message))
        assert [r.reason for r in batch.rejected] == ["foreign_asset"]
        assert asset in batch.rejected[0].detail
        assert (batch.lines, batch.stored, batch.marks) == ([], [], [])
    assert sequences.in_flight() == 0


def test_own_and_undeclared_assets_pass() -> None:
    classifier, _, _victim, attacker = _hub()
    data = c.Data(
        device=attacker.device,
        site="s",
        boot=1,
        seq=1,
        readings=[
            _item(attacker.lamp(0), c.AssetKind.STREETLIGHT),
            _item(attacker.device, c.AssetKind.DEVICE),  # the Pi itself, never declared
            _item("nobody-declared-this", c.AssetKind.BIN),
        ],
    )
    batch = _one(classifier, attacker.device, c.Kind.DATA, c.encode(data))
    assert batch.rejected == []
    assert len(batch.lines) == 3


def test_a_birth_cannot_take_another_devices_asset() -> None:
    classifier, sequences, victim, attacker = _hub()
    birth = attacker.birth(NOW)
    stolen = c.AssetInfo(id=victim.camera, kind=c.AssetKind.CAMERA, lat=1.0, lon=1.0)
    hostile = birth.model_copy(update={"assets": [*birth.assets, stolen], "boot": 2})
    batch = _one(classifier, attacker.device, c.Kind.BIRTH, c.encode(hostile))
    assert [r.reason for r in batch.rejected] == ["foreign_asset"]
    assert batch.births == []
    assert classifier.owners.owner_of(victim.camera) == victim.device
    assert sequences.row(attacker.device).boot == 1  # nothing of the birth was taken
    # The victim's own rebirth still works.
    batch = _one(classifier, victim.device, c.Kind.BIRTH, c.encode(victim.birth(NOW)))
    assert batch.rejected == []
    assert len(batch.births) == 1


def test_a_device_may_declare_a_bounded_number_of_assets() -> None:
    classifier, _, _, attacker = _hub(max_per_device=5)
    birth = attacker.birth(NOW)  # lamp, bin, camera: 3
    assert classifier.owners.count(attacker.device) == 3

    def extra(n: int) -> c.Birth:
        more = [
            c.AssetInfo(id=f"{attacker.device}-x{n}-{i}", kind=c.AssetKind.BIN, lat=1, lon=1)
            for i in range(2)
        ]
        return birth.model_copy(update={"assets": [*birth.assets, *more]})

    ok = _one(classifier, attacker.device, c.Kind.BIRTH, c.encode(extra(1)))
    assert ok.rejected == []
    assert classifier.owners.count(attacker.device) == 5
    # Renaming assets does not escape the bound: the old ones stay the device's.
    refused = _one(classifier, attacker.device, c.Kind.BIRTH, c.encode(extra(2)))
    assert [r.reason for r in refused.rejected] == ["too_many_assets"]
    assert refused.births == []
    assert classifier.owners.count(attacker.device) == 5


def test_the_store_never_moves_an_asset_even_when_asked(tmp_path: Path) -> None:
    """Belt and braces: an owner changed in SQL after the ingest loaded its map."""
    sessions = open_database(f"sqlite:///{tmp_path}/hub.sqlite")
    victim, attacker = Pole("victim", lamps=1), Pole("attacker", lamps=1)
    register(sessions, [(victim.device, "s"), (attacker.device, "s")])
    store = IngestStore(sessions, dead_letter_max=10)
    store.write(BatchWrite(births=[victim.birth(NOW)], devices={}, rejected=[], counters={}))
    birth = attacker.birth(NOW)
    stolen = c.AssetInfo(
        id=victim.camera, kind=c.AssetKind.CAMERA, lat=1.0, lon=1.0, address="Elsewhere"
    )
    hostile = birth.model_copy(update={"assets": [*birth.assets, stolen]})
    store.write(BatchWrite(births=[hostile], devices={}, rejected=[], counters={}))
    with sessions() as s:
        cam = s.get(Asset, victim.camera)
        own = s.get(Asset, attacker.lamp(0))
        assert cam is not None
        assert (cam.device_id, cam.address) == (victim.device, "Solna torg 2")
        assert own is not None
        assert own.device_id == attacker.device
    sessions.kw["bind"].dispose()
