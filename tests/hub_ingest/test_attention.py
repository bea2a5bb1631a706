"""The hub's attention, table-driven with fake clocks: stall spans and the backlog's frontier
(hub.attention), their measurement in wall time recorded in the clock's time
(hub.attention_monitor), and both liveness deciders subtracting them (hub.device_state,
hub.rules.device)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.attention import Attention
from hub.attention_monitor import AttentionMonitor
from hub.device_state import DeviceStates
from hub.ingest_backlog import Backlog
from hub.rules.actions import Action
from hub.rules.bin import BinParams, BinState, bin_step
from hub.rules.device import DeviceParams, DeviceState, device_step
from tests.purity import io_imported_by

S = 1000  # ms per second
T0 = datetime(2026, 12, 11, 11, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)


class Wall:
    """A monotonic clock moved by hand, and a clock running ``speed`` times faster on it
    (what trygg.clock.ScaledClock does with time.monotonic)."""

    def __init__(self, speed: float = 1.0) -> None:
        self.t = 1000.0
        self.speed = speed
        self.origin = self.t

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return T0 + timedelta(seconds=(self.t - self.origin) * self.speed)

    def scale(self) -> float:
        return self.speed


@pytest.mark.parametrize(
    ("spans", "since", "now", "deaf"),
    [
        ([], 0, 100, 0),
        ([(10, 20)], 0, 100, 10),
        ([(10, 20)], 15, 100, 5),  # a stall before the silence began does not count
        ([(10, 20)], 0, 15, 5),  # nor the part after now
        ([(10, 20), (30, 40)], 0, 100, 20),
        ([(10, 20), (15, 40)], 0, 100, 30),  # overlapping spans merge, not double-count
        ([(30, 40), (10, 20)], 0, 100, 20),  # recorded out of order
        ([(10, 20), (20, 30)], 0, 100, 20),  # touching
        ([(10, 20)], 50, 40, 0),  # now before since: no silence, no deafness
        ([(0, 100)], 10, 90, 80),
    ],
)
def test_stall_spans_within_a_silence(
    spans: list[tuple[int, int]], since: int, now: int, deaf: int
) -> None:
    a = Attention()
    for start, end in spans:
        a.stalled(start, end)
    assert a.deaf_ms(since, now) == deaf
    assert a.silent_ms(since, now) == max(0, now - since - deaf)


@pytest.mark.parametrize(
    ("spans", "behind", "since", "now", "deaf"),
    [
        ([], None, 0, 100, 0),
        ([], 70, 0, 100, 30),  # heard only up to the oldest unhandled arrival
        ([], 70, 80, 100, 20),  # the backlog is older than the silence: all of it is deaf
        ([], 120, 0, 100, 0),  # a frontier "after now" is now
        ([(60, 90)], 70, 0, 100, 40),  # stall before the frontier counts, after it is inside
        ([(10, 20)], 70, 0, 100, 40),
    ],
)
def test_the_backlog_frontier_and_stalls_together(
    spans: list[tuple[int, int]], behind: int | None, since: int, now: int, deaf: int
) -> None:
    a = Attention()
    for start, end in spans:
        a.stalled(start, end)
    a.behind(behind)
    assert a.deaf_ms(since, now) == deaf


def test_merging_keeps_spans_disjoint_and_bounded() -> None:
    a = Attention(max_spans=3)
    for start in (50, 10, 30, 70, 90):
        a.stalled(start, start + 5)
    assert a.spans() == [(50, 55), (70, 75), (90, 95)]  # the oldest went first
    assert a.deaf_ms(0, 100) == 15
    assert a.deaf_ms(53, 92) == 2 + 5 + 2
    a.stalled(52, 92)
    assert a.spans() == [(50, 95)]
    assert a.deaf_ms(0, 100) == 45
    a.stalled(7, 7)  # empty: nothing
    assert a.spans() == [(50, 95)]
    with pytest.raises(ValueError, match="max_spans"):
        Attention(max_spans=0)


def _reference_deaf(spans: list[tuple[int, int]], since: int, now: int) -> int:
    """Deaf milliseconds counted one by one."""
    return sum(1 for t in range(since, now) if any(a <= t < b for a, b in spans))


@given(
    spans=st.lists(
        st.tuples(st.integers(0, 300), st.integers(0, 60)).map(lambda x: (x[0], x[0] + x[1])),
        max_size=12,
    ),
    since=st.integers(0, 400),
    length=st.integers(0, 400),
)
def test_stall_accounting_matches_counting_each_millisecond(
    spans: list[tuple[int, int]], since: int, length: int
) -> None:
    a = Attention()
    for start, end in spans:
        a.stalled(start, end)
    got = a.spans()
    assert got == sorted(got)
    assert all(e1 < s2 for (_, e1), (s2, _) in itertools.pairwise(got))  # disjoint
    assert a.deaf_ms(since, since + length) == _reference_deaf(spans, since, since + length)


@pytest.mark.parametrize(
    ("speed", "gaps_s", "stalled_clock_s"),
    [
        (1.0, [0.1, 0.1, 0.1], 0.0),  # on time
        (1.0, [0.1, 0.11, 0.1], 0.0),  # jitter within the slack
        (1.0, [0.1, 5.1, 0.1], 5.0),  # the loop (or the process) stopped for 5 s
        (120.0, [0.1, 2.1, 0.1], 240.0),  # 2 wall seconds are 4 simulated minutes
        (1.0, [0.15] * 10, 0.5),  # a loop 50 % late, steadily
    ],
)
def test_the_monitor_records_lost_wall_time_in_the_clocks_time(
    speed: float, gaps_s: list[float], stalled_clock_s: float
) -> None:
    wall = Wall(speed)
    mon = AttentionMonitor(clock=wall, monotonic=wall.monotonic, period_s=0.1, slack_s=0.02)
    mon.start()
    for gap in gaps_s:
        wall.t += gap
        mon.observe()
    now_ms = int(wall.now().timestamp() * 1000)
    assert mon.attention.deaf_ms(T0_MS, now_ms) == pytest.approx(stalled_clock_s * S, abs=2)
    assert mon.stalled_s == pytest.approx(stalled_clock_s / speed, abs=1e-6)


def test_the_monitor_measures_nothing_until_started_and_tick_looks_count() -> None:
    wall = Wall()
    mon = AttentionMonitor(clock=wall, monotonic=wall.monotonic)
    wall.t += 30  # a tick long after construction, with no monitor running
    mon.observe()
    assert mon.attention.spans() == []
    mon.start()
    wall.t += 0.05
    mon.observe()  # a tick between two of the monitor's own looks
    wall.t += 0.05
    mon.observe()
    assert mon.attention.spans() == []
    wall.t += 10  # stopped; the tick after it looks first
    mon.observe()
    assert [round((e - s) / S, 1) for s, e in mon.attention.spans()] == [9.9]


def test_the_monitor_turns_the_oldest_unhandled_arrival_into_the_frontier() -> None:
    wall = Wall(speed=120.0)
    mon = AttentionMonitor(clock=wall, monotonic=wall.monotonic)
    backlog = Backlog()
    inbox: list[float] = []
    mon.watch(backlog.oldest)
    mon.watch(lambda: min(inbox, default=None))
    wall.t += 10
    first = backlog.enter(wall.t - 1.0)  # taken, arrived a wall second ago
    backlog.enter(wall.t)
    inbox.append(wall.t - 0.5)
    mon.observe()
    now_ms = int(wall.now().timestamp() * 1000)
    assert mon.attention.deaf_ms(T0_MS, now_ms) == 120 * S  # one wall second at x120
    backlog.leave(first)
    backlog.leave(first)  # twice: nothing
    mon.observe()
    assert mon.attention.deaf_ms(T0_MS, now_ms) == 60 * S  # the inbox's message is oldest
    inbox.clear()
    mon.observe()
    assert mon.attention.deaf_ms(T0_MS, now_ms) == 0 * S  # the last batch arrived just now
    backlog.clear()
    assert backlog.oldest() is None
    assert len(backlog) == 0


def _fleet(attention: Attention, n: int = 2) -> DeviceStates:
    states = DeviceStates(started_ms=0, grace_s=0, attention=attention)
    for i in range(n):
        states.on_birth(
            device=f"d{i}", boot=1, device_class="pole", heartbeat_s=60, firmware="f", now_ms=0
        )
    return states


@pytest.mark.parametrize(
    ("stall", "behind", "tick_s", "offline"),
    [
        (None, None, 151, True),  # 2.5 x 60 s heartbeat = 150 s
        ((100, 400), None, 400, False),  # silent 400 s, but 300 of them the hub was stopped
        ((100, 400), None, 451, True),  # and 151 s it could hear: offline
        (None, 10, 400, False),  # the hub has handled nothing that arrived after 10 s
        ((50, 60), 100, 400, False),
    ],
)
def test_device_states_subtract_the_hubs_deaf_time(
    stall: tuple[int, int] | None, behind: int | None, tick_s: int, offline: bool
) -> None:
    attention = Attention()
    states = _fleet(attention)
    states.on_seen(device="d0", now_ms=tick_s * S)  # d0 keeps talking
    if stall is not None:
        attention.stalled(stall[0] * S, stall[1] * S)
    attention.behind(None if behind is None else behind * S)
    transitions = states.tick(tick_s * S)
    assert [t.status.device for t in transitions] == (["d1"] if offline else [])
    deaf = attention.deaf_ms(0, tick_s * S)
    assert states.deadline_ms(states.get("d1"), tick_s * S) == 150 * S + deaf


@pytest.mark.parametrize(
    ("stall", "t_s", "silent"),
    [
        (None, 151, True),  # 2.5 x 60 s heartbeat = 150 s
        ((10, 70), 151, False),
        ((10, 70), 211, True),
    ],
)
def test_the_offline_rule_raises_on_the_owners_transitions_only(
    stall: tuple[int, int] | None, t_s: int, silent: bool
) -> None:
    heard = Attention()
    if stall is not None:
        heard.stalled(stall[0] * S, stall[1] * S)
    states = _fleet(heard, n=1)
    actions: list[Action] = []
    rule = DeviceState()
    for t in states.tick(t_s * S):
        rule, actions = device_step(
            rule, device=t.status.device, t_ms=t_s * S, p=DeviceParams(min_off_s=0), status=t.status
        )
    assert [a.alarm for a in actions] == (["deviceOffline"] if silent else [])


@pytest.mark.parametrize(
    ("stall", "t_s", "dead"),
    [
        (None, 3600, True),  # a bin's sensor silent for its sensorTimeoutS
        ((600, 1200), 3600, False),  # ten of those minutes the hub did not run
        ((600, 1200), 4200, True),
    ],
)
def test_a_bins_no_data_subtracts_the_same_deaf_time(
    stall: tuple[int, int] | None, t_s: int, dead: bool
) -> None:
    heard = Attention()
    if stall is not None:
        heard.stalled(T0_MS + stall[0] * S, T0_MS + stall[1] * S)
    p = BinParams(sensor_timeout_s=3600)
    st, _ = bin_step(BinState(), {"fillingLevel": 0.4}, asset="B", t_ms=T0_MS, p=p)
    _, actions = bin_step(st, None, asset="B", t_ms=T0_MS + t_s * S, p=p, heard=heard)
    assert [a.alarm for a in actions] == (["binSensorDead"] if dead else [])


def test_the_attention_modules_import_no_io() -> None:
    assert io_imported_by("hub.attention", "hub.ingest_backlog") == []
