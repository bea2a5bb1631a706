"""Unknown and blocked devices in the classifier: counted with their claims, not lost."""

from __future__ import annotations

from hub.ingest_batch import Classifier, Draft
from hub.sequences import Sequences
from hub.strangers import Stranger, merge
from trygg import contract as c


def birth(device: str, *, site: str = "solna-centrum") -> bytes:
    return (
        c.Birth(
            device=device,
            boot=1,
            ts=1_780_000_000_000,
            firmware="1.2.3",
            site=site,
            heartbeat_s=60,
            low=1,
            assets=[
                c.AssetInfo(id=f"{device}-lamp0", kind=c.AssetKind.STREETLIGHT, lat=59.36, lon=18.0)
            ],
        )
        .model_dump_json()
        .encode()
    )


def test_an_unknown_device_is_dead_lettered_and_remembered_with_its_claims() -> None:
    classifier = Classifier(sequences=Sequences())
    batch = Draft(received_ms=0)
    classifier.one(batch, c.topic_for("pole-x1", c.Kind.BIRTH), birth("pole-x1"))
    classifier.one(batch, c.topic_for("pole-x1", c.Kind.DATA), b"{}")
    assert [r.reason for r in batch.rejected] == ["unknown_device", "unknown_device"]
    seen = batch.seal().strangers["pole-x1"]
    assert seen.count == 2
    assert seen.blocked is False
    assert seen.claims is not None
    assert seen.claims["site"] == "solna-centrum"
    assert seen.claims["assets"][0]["id"] == "pole-x1-lamp0"


def test_a_retained_birth_of_a_stranger_is_remembered_too() -> None:
    classifier = Classifier(sequences=Sequences())
    batch = Draft(received_ms=0)
    classifier.one(batch, c.topic_for("pole-x2", c.Kind.BIRTH), birth("pole-x2"), retained=True)
    assert batch.rejected == []
    assert batch.delta.ignored_retained == 1
    claims = batch.strangers["pole-x2"].claims
    assert claims is not None
    assert claims["firmware"] == "1.2.3"


def test_a_blocked_device_is_dropped_and_counted_without_dead_letters() -> None:
    classifier = Classifier(sequences=Sequences())
    classifier.blocked = frozenset({"pole-b1"})
    batch = Draft(received_ms=0)
    for _ in range(3):
        classifier.one(batch, c.topic_for("pole-b1", c.Kind.DATA), b"{}")
    assert batch.rejected == []
    assert batch.delta.blocked == 3
    assert batch.strangers["pole-b1"] == Stranger(count=3, claims=None, blocked=True)


def test_a_device_admitted_live_is_taken_and_one_retired_refused() -> None:
    sequences = Sequences()
    sequences.load(["pole-old"], {})
    classifier = Classifier(sequences=sequences)
    sequences.admit({"pole-new"})
    batch = Draft(received_ms=0)
    classifier.one(batch, c.topic_for("pole-new", c.Kind.BIRTH), birth("pole-new"))
    classifier.one(batch, c.topic_for("pole-old", c.Kind.BIRTH), birth("pole-old"))
    assert [b.device for b in batch.births] == ["pole-new"]
    assert [(r.topic, r.reason) for r in batch.rejected] == [
        (c.topic_for("pole-old", c.Kind.BIRTH), "unknown_device")
    ]
    sequences.admit({"pole-extra"}, keep=True)
    assert sequences.is_known("pole-new")
    assert sequences.is_known("pole-extra")


def test_merged_batches_add_counts_and_keep_the_newest_claims() -> None:
    into = {"a": Stranger(count=2, claims={"site": "x"}, blocked=False)}
    merge(into, {"a": Stranger(count=3, claims=None, blocked=False), "b": Stranger(1, None, True)})
    assert into["a"] == Stranger(count=5, claims={"site": "x"}, blocked=False)
    merge(into, {"a": Stranger(count=1, claims={"site": "y"}, blocked=False)})
    assert into["a"].claims == {"site": "y"}
    assert into["b"].count == 1
