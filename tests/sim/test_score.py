"""The score: which faults became the right ticket, which tickets are false. Table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sim.scenario import Injection
from sim.score import TicketView, match, table

T0 = datetime(2026, 12, 11, 12, 0, tzinfo=UTC)
END = T0 + timedelta(hours=6)


def inj(
    index: int,
    fault: str,
    target: str | None,
    *,
    devices: tuple[str, ...] = (),
    assets: tuple[str, ...] = (),
    at_min: int = 0,
    clear_min: int | None = None,
) -> Injection:
    return Injection(
        index,
        fault,
        target,
        assets or ((target,) if target else ()),
        devices,
        T0 + timedelta(minutes=at_min),
        None if clear_min is None else T0 + timedelta(minutes=clear_min),
    )


def ticket(
    tid: int,
    kind: str,
    asset: str | None,
    *,
    minute: int,
    device: str | None = None,
    status: str = "new",
    resolved_min: int | None = None,
) -> TicketView:
    return TicketView(
        tid,
        kind,
        asset,
        device,
        status,
        T0 + timedelta(minutes=minute),
        None if resolved_min is None else T0 + timedelta(minutes=resolved_min),
    )


LAMP = inj(0, "lamp_out", "p1-lamp0", devices=("p1",), clear_min=60)
CAB = inj(1, "cabinet_outage", "cab-1", assets=("p2-lamp0", "p3-lamp0"), devices=("p2", "p3"))
OFF = inj(2, "device_offline", "p4", assets=("p4-bin0",), devices=("p4",), at_min=10)


@pytest.mark.parametrize(
    ("tickets", "detected", "false_kinds", "resolved"),
    [
        # the right kind on the right asset, resolved after the clear
        (
            [ticket(1, "lampOut", "p1-lamp0", minute=3, status="resolved", resolved_min=61)],
            {0: 180.0},
            [],
            {0: True},
        ),
        # right kind, wrong lamp: a miss and a false ticket
        ([ticket(1, "lampOut", "p9-lamp0", minute=3)], {}, ["lampOut"], {0: False}),
        # right asset, wrong kind
        ([ticket(1, "dayBurning", "p1-lamp0", minute=3)], {}, ["dayBurning"], {0: False}),
        # before the fault: not an explanation
        ([ticket(1, "lampOut", "p1-lamp0", minute=-5)], {}, ["lampOut"], {0: False}),
        # a cabinet ticket on the cabinet; per-lamp tickets behind it are false
        (
            [
                ticket(1, "cabinetOut", "cab-1", minute=4),
                ticket(2, "lampOut", "p2-lamp0", minute=4),
            ],
            {1: 240.0},
            ["lampOut"],
            {},
        ),
        # device offline found by its device id
        ([ticket(1, "deviceOffline", "p4", minute=12, device="p4")], {2: 120.0}, [], {}),
        # a repeat: one ticket explains one fault, the second is false
        (
            [
                ticket(1, "lampOut", "p1-lamp0", minute=2),
                ticket(2, "lampOut", "p1-lamp0", minute=5),
            ],
            {0: 120.0},
            ["lampOut"],
            {0: False},
        ),
        # forecasts are advisory, never false
        ([ticket(1, "binForecastFull", "p7-bin0", minute=5)], {}, [], {}),
    ],
)
def test_match(
    tickets: list[TicketView],
    detected: dict[int, float],
    false_kinds: list[str],
    resolved: dict[int, bool],
) -> None:
    outcomes, false = match([LAMP, CAB, OFF], tickets, hub_noticed={}, end=END)
    assert {o.injection.index: o.delay_s for o in outcomes if o.delay_s is not None} == detected
    assert [t.kind for t in false] == false_kinds
    for index, want in resolved.items():
        assert outcomes[index].resolved is want


def test_infra_faults_count_when_data_flows_again_and_rows_add_up() -> None:
    broker = inj(3, "broker_outage", None, at_min=30, clear_min=40)
    influx = inj(4, "influx_outage", None, at_min=50, clear_min=60)
    outcomes, false = match(
        [LAMP, broker, influx],
        [ticket(1, "lampOut", "p1-lamp0", minute=1), ticket(2, "graffiti", "x", minute=1)],
        hub_noticed={3: T0 + timedelta(minutes=30, seconds=5)},
        hub_recovered={3: T0 + timedelta(minutes=41)},
        end=END,
    )
    rows = {r.fault: r for r in table(outcomes, false)}
    assert rows["broker_outage"].detected == 1
    assert rows["broker_outage"].resolved == 1
    assert rows["broker_outage"].median_delay_s == 60.0  # from the broker's return
    assert rows["influx_outage"].missed == 1
    assert rows["lamp_out"].detected == 1
    assert rows["lamp_out"].resolved == 0
    assert rows["graffiti"].injected == 0
    assert rows["graffiti"].false_tickets == 1
